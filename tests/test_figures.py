"""Figures a reader can read: fixed colours per model, legends outside the data, shared and log y axes where
due, single-position tasks as dots, captions that state what is drawn, the forward-cost exponent."""

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest

from mambaicl.report import plots
from mambaicl.report.captions import curves_caption, probe_caption, seeds_text
from mambaicl.report.style import BASELINE_ORDER, MODEL_COLOURS, baseline_styles, model_styles, styles_for


def _curves(models, baselines=("least_squares",), points=20, seeds=1, band=True, scale=1.0):
    rows = []
    for i, m in enumerate(models):
        for k in range(points):
            v = scale ** (-k / max(points - 1, 1)) * (1 + 0.1 * i)
            w = 0.1 * v if band else 0.0
            rows.append(dict(kind="model", name=m, label=m.upper(), k=k, normalized_mean=v, normalized_ci_low=v - w,
                             normalized_ci_high=v + w, n_seeds=seeds))
    for b in baselines:
        rows += [dict(kind="baseline", name=b, label=b, k=k, normalized_mean=1.0, normalized_ci_low=1.0,
                      normalized_ci_high=1.0, n_seeds=1) for k in range(points)]
    return pd.DataFrame(rows)


@pytest.fixture
def keep_figure(monkeypatch):
    """The figure a plot function would close, kept for inspection."""
    saved = []
    monkeypatch.setattr(plots.plt, "close", lambda fig: saved.append(fig))
    return saved


def test_twelve_models_get_distinct_colours_and_markers_and_baselines_never_a_model_colour():
    styles = model_styles([f"m{i}" for i in range(12)])
    assert len({s["color"] for s in styles.values()}) == len({s["marker"] for s in styles.values()}) == 12
    rgb = np.array([mcolors.to_rgb(c) for c in MODEL_COLOURS])
    gaps = np.linalg.norm(rgb[:, None] - rgb[None], axis=-1)[np.triu_indices(12, 1)]
    assert gaps.min() > 0.15  # separable, not just unequal
    assert all(abs(r - g) + abs(g - b) > 0.1 for r, g, b in rgb)  # no grey among the model colours
    base = baseline_styles(BASELINE_ORDER)
    model_rgb = {mcolors.to_rgb(c) for c in MODEL_COLOURS}
    assert not {mcolors.to_rgb(s["color"]) for s in base.values()} & model_rgb
    assert len({(s["color"], s["dashes"]) for s in base.values()}) == len(BASELINE_ORDER)  # each baseline its own
    with pytest.raises(ValueError, match="distinct colours"):
        model_styles([f"m{i}" for i in range(13)])


def test_baseline_order_is_the_registrys():
    from mambaicl.evaluation.baselines import BASELINES

    assert list(BASELINE_ORDER) == list(BASELINES)


def test_a_model_keeps_its_colour_in_two_figures_that_draw_different_subsets(tmp_path, keep_figure):
    order = ["transformer", "mamba", "s4", "rwkv", "s4_park"]
    plots.plot_error_curves(_curves(["s4_park", "mamba"]), tmp_path / "a.pdf", "A", 10, order=order)
    plots.plot_error_curves(_curves(["mamba", "rwkv", "transformer"]), tmp_path / "b.pdf", "B", 10, order=order)
    colour = [{line.get_label(): mcolors.to_hex(line.get_color()) for line in f.axes[0].lines} for f in keep_figure]
    assert colour[0]["MAMBA"] == colour[1]["MAMBA"] == MODEL_COLOURS[1].lower()
    assert colour[0]["S4_PARK"] == MODEL_COLOURS[4].lower()
    assert styles_for(["new", "mamba"], order)["new"]["color"] == MODEL_COLOURS[5]  # unlisted: after the order


def test_one_legend_below_the_panels_names_every_line_once_and_panels_share_y(tmp_path, keep_figure):
    curves = _curves(["a", "b", "c"], baselines=("least_squares", "averaging"))
    plots.plot_error_curves(curves, tmp_path / "f.pdf", "T", 10, groups={"grazzi": ["a", "b"], "park": ["b", "c"]})
    fig = keep_figure[0]
    assert all(ax.get_legend() is None for ax in fig.axes)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["A", "B", "C", "least_squares", "averaging"]
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()
    fig.canvas.draw()  # the legend sits below every axes: it covers no data
    assert legend.get_window_extent().y1 <= min(ax.get_tightbbox().y0 for ax in fig.axes) + 1


def test_log_scale_only_when_the_values_span_more_than_two_decades(tmp_path, keep_figure):
    plots.plot_error_curves(_curves(["a"], scale=1e4), tmp_path / "log.pdf", "T", 10)
    plots.plot_error_curves(_curves(["a"], scale=10), tmp_path / "lin.pdf", "T", 10)
    log_ax, lin_ax = keep_figure[0].axes[0], keep_figure[1].axes[0]
    assert log_ax.get_yscale() == "log" and "log scale" in log_ax.get_ylabel()
    assert lin_ax.get_yscale() == "linear" and "log" not in lin_ax.get_ylabel()


def test_setting_panels_share_y_and_titles_do_not_overlap(tmp_path, keep_figure):
    titles = ["trained and evaluated on skewed inputs", "trained isotropic, evaluated on skewed"]
    plots.plot_setting_panels([(t, _curves(["a", "b"]), 1.0) for t in titles], tmp_path / "s.pdf", 10)
    fig = keep_figure[0]
    fig.canvas.draw()
    left, right = (ax.title.get_window_extent() for ax in fig.axes[:2])
    assert left.x1 < right.x0
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim() and len(fig.legends) == 1


def test_a_single_position_is_drawn_as_dots_with_error_bars(tmp_path, keep_figure):
    curves = _curves(["a", "b"], baselines=("mqar_zero",), points=1)
    plots.plot_error_curves(curves, tmp_path / "m.pdf", "MQAR", 1)
    ax = keep_figure[0].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A", "B"]  # one category per model, not k
    assert len(ax.containers) == 2  # one errorbar per model
    assert ax.get_ylim()[1] >= curves.normalized_ci_high.max()  # no interval is cut off


def test_captions_state_the_seeds_and_the_band_drawn():
    assert seeds_text([1, 1]) == "one seed" and seeds_text([3]) == "mean over 3 seeds"
    assert seeds_text([1, 3]) == "mean over 1-3 seeds (per model)"
    three = curves_caption(_curves(["a", "b"], seeds=3), 0.95)
    assert three == "mean over 3 seeds; shaded: 95% bootstrap interval over prompts"
    one = curves_caption(_curves(["a"], seeds=1, band=False), 0.9)
    assert one.startswith("one seed; no interval drawn")
    assert "error bars: 90% bootstrap" in curves_caption(_curves(["a"], points=1), 0.9)
    assert curves_caption(_curves(["a"], scale=1e4), 0.95).endswith("log scale")
    summary = pd.DataFrame({"n_seeds": [2, 2], "probe_mse_ci_low": [0.9, 0.8], "probe_mse_ci_high": [1.1, 1.2]})
    assert probe_caption(summary, 0.95) == "mean over 2 seeds; shaded: 95% bootstrap interval over prompts"


def test_results_section_captions_follow_the_curves(tmp_path):
    from mambaicl.report.sections import results_section_job

    paths = {}
    for task, seeds in (("lr", 3), ("mqar", 1)):
        paths[task] = str(tmp_path / f"{task}.csv")
        _curves(["a"], seeds=seeds, band=seeds > 1).to_csv(paths[task], index=False)
    out = tmp_path / "tasks.tex"
    results_section_job(["lr", "mqar"], {"lr": "LR", "mqar": "MQAR"}, {"lr": "x", "mqar": "y"}, str(out),
                        drawn={"errors/lr": [paths["lr"]], "errors/mqar": [paths["mqar"]]}, ci=0.95)
    text = out.read_text()
    assert r"(mean over 3 seeds; shaded: 95\% bootstrap interval over prompts)" in text
    assert "(one seed; no interval drawn" in text and "mean over seeds, bootstrap band" not in text


def test_a_single_point_figure_is_not_captioned_as_curves(tmp_path):
    """MQAR scores one position: its caption names that position and no training-length line (none is drawn)."""
    from mambaicl.report.sections import results_section_job

    one, many = str(tmp_path / "one.csv"), str(tmp_path / "many.csv")
    _curves(["a"], points=1).to_csv(one, index=False)
    _curves(["a"]).to_csv(many, index=False)
    out = tmp_path / "tasks.tex"
    results_section_job(["mqar", "lr"], {"mqar": "MQAR", "lr": "LR"}, {"mqar": "y", "lr": "x"}, str(out),
                        drawn={"errors/mqar": [one], "errors/lr": [many]}, ci=0.95)
    mqar, lr = out.read_text().split(r"\subsection{LR}")
    k = int(pd.read_csv(one).k.iloc[0])
    assert f"each model's metric at the one evaluated position ($k = {k}$)" in mqar
    assert "per-position" not in mqar and "Dotted line: training length" not in mqar
    assert "per-position metric against the number of in-context examples" in lr and "Dotted line" in lr


def _scaling(exponents, repeats=5):
    rows = [dict(backbone=b, length=n, seconds=1e-3 * (n / 256) ** e, seconds_min=0.9e-3 * (n / 256) ** e,
                 seconds_max=1.2e-3 * (n / 256) ** e, peak_mib=n / 100, device="cpu", batch_size=1, repeats=repeats)
            for b, e in exponents.items() for n in (256, 512, 1024, 2048)]
    return pd.DataFrame(rows)


def test_forward_cost_states_the_fitted_exponent_in_legend_and_macros(tmp_path, keep_figure):
    from mambaicl.report.latex import parse_macros
    from mambaicl.report.scaling_text import macros_scaling_job, scaling_macro_names

    df = _scaling({"gpt2": 2.0, "mamba": 1.0})
    plots.plot_forward_scaling(df, tmp_path / "f.pdf", {"transformer": "gpt2", "mamba": "mamba"})
    labels = [t.get_text() for t in keep_figure[0].legends[0].get_texts()]
    assert labels == ["Transformer (slope 2.00)", "Mamba (slope 1.00)"]
    df.to_csv(tmp_path / "s.csv", index=False)
    macros_scaling_job(str(tmp_path / "s.csv"), str(tmp_path / "m.tex"))
    macros = parse_macros((tmp_path / "m.tex").read_text())
    assert set(macros) == set(scaling_macro_names({"backbones": ["gpt2", "mamba"]}))
    assert macros["ScalingSlopesText"] == "Transformer 2.00, Mamba 1.00" and macros["ScalingRepeats"] == "5"


def test_forward_cost_takes_the_median_of_the_configured_repeats(repo):
    import inspect

    import torch

    from mambaicl.analysis.scaling import measure_forward
    from mambaicl.config import load_yaml
    from mambaicl.validation import validate

    df = measure_forward({"backbone": "mamba", "d_model": 8, "n_layer": 1}, [16, 32], 1, 3, torch.device("cpu"),
                         repeats=5)
    assert (df.repeats == 5).all() and (df.seconds_min <= df.seconds).all() and (df.seconds <= df.seconds_max).all()
    smoke = validate(load_yaml(repo / "workflow/config/smoke.yaml"))
    assert smoke["scaling"]["repeats"] >= 5
    paper = load_yaml(repo / "workflow/config/paper.yaml")
    del paper["scaling"]["repeats"]
    validate(paper)  # optional: the schema's default, 5, which the job applies
    schema = load_yaml(repo / "workflow/schemas/config.schema.yaml")
    assert schema["properties"]["scaling"]["properties"]["repeats"]["default"] == 5
    assert inspect.signature(measure_forward).parameters["repeats"].default == 5
