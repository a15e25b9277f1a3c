"""Macro names, macros files and tables rendered from metrics."""

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mambaicl.report.latex import error_table_tex, errors_at_k, macro_name, macros_tex, number_words, parse_macros
from mambaicl.training.checkpoints import atomic_save

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("n,words", [(0, "Zero"), (7, "Seven"), (15, "Fifteen"), (40, "Forty"),
                                     (199, "OneHundredNinetyNine"), (2000, "TwoThousand")])
def test_number_words(n, words):
    assert number_words(n) == words


def test_macro_names_are_letters_only_and_distinct():
    a = macro_name("err", "linear_regression", "transformer", "k", 10)
    b = macro_name("err", "linear_regression", "transformer", "k", 1)
    assert a == "ErrLinearRegressionTransformerKTen" and a.isalpha() and a != b
    assert macro_name("mamba2", "seed12") == "MambaTwoSeedTwelve"


def test_macros_roundtrip_and_escape():
    text = macros_tex({"Platform": "x86_64 Linux", "Err": "0.123"})
    assert r"\newcommand{\Platform}{x86\_64 Linux}" in text
    assert parse_macros(text) == {"Platform": r"x86\_64 Linux", "Err": "0.123"}


def test_error_table_has_one_row_per_curve_and_the_values():
    curves = pd.DataFrame({
        "kind": ["model"] * 3 + ["baseline"] * 3,
        "label": ["Transformer"] * 3 + ["Least squares"] * 3,
        "k": [0, 1, 2] * 2,
        "normalized_mean": [1.0, 0.5, 0.25, 1.0, 0.0, 0.0],
    })
    wide = errors_at_k(curves, [1, 2, 5])
    assert wide.loc[("model", "Transformer"), 2] == 0.25
    tex = error_table_tex(curves, [1, 2, 5], "cap", "tab:x")
    assert r"Transformer & 0.500 & 0.250 & -- \\" in tex
    assert r"Least squares & 0 & 0 & -- \\" in tex
    assert tex.index("Transformer") < tex.index(r"\midrule", tex.index("Transformer"))
    assert "--: " in tex and "positional table ends before this $k$" in tex  # every dash has its reason


def _curves(models, baselines, ks=(1, 2), mean=0.12345, low=0.1192, high=0.1277):
    rows = [dict(kind=kind, name=n, label=n.title(), k=k, normalized_mean=mean, normalized_ci_low=low,
                 normalized_ci_high=high) for kind, names in (("baseline", baselines), ("model", models))
            for n in names for k in ks]
    return pd.DataFrame(rows)


def test_error_table_shows_intervals_and_the_configs_model_order():
    from mambaicl.report.latex import format_interval, format_number

    curves = _curves(["mamba", "transformer", "s4"], ["averaging", "least_squares"])
    tex = error_table_tex(curves, [1, 2], "cap", "tab:x", model_order=["transformer", "s4", "mamba"], ci=0.9)
    body = [ln.split(" & ")[0] for ln in tex.splitlines() if ln.endswith(r"\\") and "&" in ln][1:]
    assert body == ["Transformer", "S4", "Mamba", "Least_Squares".replace("_", r"\_"), "Averaging"]
    assert r"0.123\,$\pm$\,0.004" in tex and "90\\,\\% bootstrap interval" in tex
    assert "--" not in tex.split(r"\label")[0]  # no dash, no dash legend
    sig = lambda v: format_number(v, sig=True)  # noqa: E731
    assert sig(0.0001234) == r"\ensuremath{1.23\times10^{-4}}" and sig(3298.4) == "3298" and sig(0.5) == "0.500"
    assert sig(0.0123) == "0.0123" and sig(0.0) == "0" and sig(4e-15) == r"$<10^{-6}$" and sig(float("nan")) == "--"
    assert format_interval(4.5e-15, 3e-15, 6e-15) == r"$<10^{-6}$"
    assert format_interval(1.0, 1.0, 1.0) == "1.00" and format_interval(float("nan"), 0, 1) == "--"


def test_an_interval_shows_the_mean_to_at_most_four_significant_figures():
    from mambaicl.report.latex import INTERVAL_MAX_SIG, format_interval

    # the smoke MQAR zero-vector baseline: MSE 1 with a bootstrap half-width of 1.7e-7 printed nine digits
    assert format_interval(1.00000031, 1.00000014, 1.00000048) == r"1.000\,$\pm$\,${<}10^{-3}$"
    assert format_interval(1.0, 0.9985, 1.0015) == r"1.000\,$\pm$\,0.002"  # rounded to the mean's 4th figure
    assert format_interval(3298.4, 3298.39, 3298.41) == r"3298\,$\pm$\,${<}1$"
    assert format_interval(1.2345e-5, 1.2344e-5, 1.2346e-5) == r"\ensuremath{1.234\times10^{-5}}\,$\pm$\,${<}10^{-8}$"
    # a half-width at the mean's resolution is still printed, with a shared power of ten for tiny numbers
    assert format_interval(3e-6, 2.8e-6, 3.2e-6) == r"$(3.0\pm0.2)\times10^{-6}$"
    assert format_interval(0.9384, 0.9184, 0.9584) == r"0.94\,$\pm$\,0.02"
    for mean, half in ((1.0, 1e-9), (0.5, 3e-6), (42.0, 1e-4), (0.0123, 1e-8)):
        text = format_interval(mean, mean - half, mean + half).split(r"\,")[0]
        digits = "".join(ch for ch in text.split("times")[0] if ch.isdigit()).lstrip("0")
        assert len(digits) <= INTERVAL_MAX_SIG, (mean, half, text)


def test_one_exact_fit_floor_for_tables_and_figures():
    from mambaicl.report import latex, style

    assert style.EXACT_FIT_FLOOR is latex.EXACT_FIT_FLOOR and not hasattr(latex, "FLOOR")
    assert list(style.drawn_range_values([0.5, 4e-15, latex.EXACT_FIT_FLOOR])) == [0.5, latex.EXACT_FIT_FLOOR]


def test_baseline_order_is_the_registrys():
    from mambaicl.evaluation.baselines import BASELINES
    from mambaicl.report.labels import BASELINE_ORDER

    assert BASELINE_ORDER == list(BASELINES)


def test_settings_and_retrieval_tables_share_the_model_order(tmp_path):
    from mambaicl.report.tables import table_retrieval_job, table_settings_job

    order = ["transformer", "mamba"]
    paths = {}
    for s in ("standard", "noisy"):
        paths[s] = tmp_path / f"{s}.csv"
        _curves(["mamba", "transformer"], ["mqar_zero", "mqar_nearest_key"]).to_csv(paths[s], index=False)
    extra = pd.DataFrame([dict(setting=s, kind=kind, name=n, label=n, metric=m, mean=0.5, ci_low=0.4, ci_high=0.6,
                               n_seeds=1)
                          for s in ("standard", "noisy") for kind, n in (("model", "mamba"), ("model", "transformer"))
                          for m in ("nearest_value_accuracy", "key_match_error")])
    extra.to_csv(tmp_path / "extra.csv", index=False)
    table_retrieval_job("MQAR", "mqar", paths, tmp_path / "extra.csv", tmp_path / "r.tex", order, ci=0.9)
    table_settings_job("LR", "lr", paths, 2, tmp_path / "s.tex", order)
    for name in ("r.tex", "s.tex"):
        tex = (tmp_path / name).read_text()
        pos = [tex.index(label + " &") for label in ("Transformer", "Mamba", "Mqar_Nearest_Key".replace("_", r"\_"),
                                                    "Mqar_Zero".replace("_", r"\_"))]
        assert pos == sorted(pos), name
    r = (tmp_path / "r.tex").read_text()
    assert r"0.50\,$\pm$\,0.10" in r and "--: not evaluated" in r  # the baselines have no retrieval metrics


@pytest.mark.parametrize("seconds,text", [(42, "42 s"), (210, "3.5 min"), (7.2 * 3600, "7.2 h"), (2.1 * 86400, "2.1 d")])
def test_format_duration(seconds, text):
    from mambaicl.report.latex import format_duration

    assert format_duration(seconds) == text


def test_results_section_states_each_tasks_generator_options(tmp_path):
    from mambaicl.report.labels import options_text
    from mambaicl.report.sections import results_section_job

    spec = {"name": "ortho_outlier_regression", "n_dims": 20, "reference_weight": "fresh"}
    assert options_text(spec) == "n_dims = 20, reference_weight = fresh"
    out = tmp_path / "tasks.tex"
    from mambaicl.report.labels import generator_choices_text
    results_section_job(["ortho_fresh"], {"ortho_fresh": "Outliers"}, {"ortho_fresh": options_text(spec)}, out,
                        choices={"ortho_fresh": generator_choices_text(spec)})
    text = out.read_text()
    assert r"\texttt{n\_dims = 20, reference\_weight = fresh}" in text
    assert r"\includegraphics[width=0.7\linewidth]{generated/figures/error_curves_ortho_fresh.pdf}" in text
    assert r"\input{generated/tables/errors_ortho_fresh.tex}" in text
    assert "D-fixed-dummy" in text and "as in Park et al.'s release" in text  # the default placement is named


def test_outlier_choices_are_named_with_the_generators_defaults():
    import inspect

    from mambaicl.report.labels import OUTLIER_CHOICE_DEFAULTS, generator_choices_text
    from mambaicl.tasks.outliers import ManyOutlierRegression

    defaults = {k: v.default for k, v in inspect.signature(ManyOutlierRegression).parameters.items()}
    assert {k: defaults[k] for k in OUTLIER_CHOICE_DEFAULTS} == OUTLIER_CHOICE_DEFAULTS
    many = generator_choices_text({"name": "many_outlier_regression"})
    assert "Park et al.'s release" in many and "inactive ones included" in many
    changed = generator_choices_text({"name": "many_outlier_regression", "fixed_spacing": "even",
                                      "dummy_inactive": "zero"})
    assert "our correction" in changed and "our alternative" in changed
    assert "Dummy" not in generator_choices_text({"name": "ortho_outlier_regression"})
    assert generator_choices_text({"name": "linear_regression"}) == ""


def test_training_table_states_each_groups_recipe(repo, tmp_path):
    from mambaicl.config import load_yaml
    from mambaicl.report.tables import training_table_job
    from mambaicl.validation import validate

    cfg = validate(load_yaml(repo / "workflow/config/paper.yaml"))
    out = tmp_path / "training.tex"
    training_table_job(cfg, out)
    rows = [ln for ln in out.read_text().splitlines() if ln.endswith(r"\\") and " & " in ln][1:]
    mqar = next(r for r in rows if r.startswith("mqar"))
    assert "constant & 0.0002 & 100 &" in mqar  # Park: MQAR at 2e-4, clip 100
    s4 = next(r for r in rows if r.startswith(r"linear\_regression & S4 &"))
    assert "cosine & 0.001 & -- & 500,001" in s4  # Grazzi: S4 at 1e-3, cosine, no clipping
    assert any(r.startswith(r"many\_outlier\_regression") and "1,000,001" in r for r in rows)


def _fake_curves(config, task, path):
    """A curves.csv with every model and baseline of the task; the first model stops one position short."""
    from mambaicl.evaluation.settings import task_baselines
    from mambaicl.report.macros import models_of

    last = config["tasks"][task]["eval_points"] - 1
    rows = [dict(kind=kind, name=name, label=name, k=k, normalized_mean=1 / (k + 1))
            for kind, names in (("model", models_of(config, task)), ("baseline", task_baselines(config, task)))
            for name in names for k in range(last + 1)]
    first = models_of(config, task)[0]
    short = [r for r in rows if not (r["name"] == first and r["k"] == last and last > 0)]
    pd.DataFrame(short).to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize("name", ["smoke", "cpu", "paper"])
def test_macros_job_writes_exactly_the_names_listed_for_the_config(repo, tmp_path, name):
    """report.macros.paper_macros (from the config alone) and macros_job (from a run) cannot drift apart."""
    from mambaicl.config import load_yaml
    from mambaicl.report.macros import macros_job, models_of, paper_macros, trained_tasks
    from mambaicl.validation import validate

    config = validate(load_yaml(repo / f"workflow/config/{name}.yaml"))
    ckpt = tmp_path / "model.pt"
    atomic_save({"spec_hash": "0" * 16, "effective_parameters": 1234, "train_seconds": 90.0, "device": "cpu"}, ckpt)
    curves = {t: _fake_curves(config, t, tmp_path / f"{t}.csv") for t in trained_tasks(config)}
    models = {f"{t}/{m}": [str(ckpt)] for t in trained_tasks(config) for m in models_of(config, t)}
    out = tmp_path / "macros.tex"
    macros_job(config, curves, models, out)
    text = out.read_text()
    listed = paper_macros(config)["macros.tex"]
    assert set(parse_macros(text)) == set(listed["names"])
    for switch, on in listed["switches"].items():
        assert f"\\newif\\if{switch}\n" in text and (f"\\{switch}true\n" in text) == on
    macros = parse_macros(text)
    assert macros["ProvenanceParams"] == "1,234" and macros["ProvenanceTrainTime"] == "1.5 min"
    first_task, first_model = trained_tasks(config)[0], models_of(config, trained_tasks(config)[0])[0]
    last = config["tasks"][first_task]["eval_points"] - 1
    key = macro_name("err", first_task, first_model, "k", last)
    if key in macros:  # a configured k at the last position: the short curve reads as a dash
        assert macros[key] == "--"


def test_macros_probing_job_writes_exactly_the_names_listed_for_the_config(repo, tmp_path):
    from mambaicl.analysis.probe_config import (gd_reference_tasks, main_probe_models, other_probe_models,
                                                probe_models, probe_tasks, probing_settings)
    from mambaicl.config import load_yaml
    from mambaicl.report.macros import macros_probing_job, probing_macros
    from mambaicl.validation import validate

    config = validate(load_yaml(repo / "workflow/config/smoke.yaml"))
    tasks = probe_tasks(config)
    summary = pd.DataFrame([dict(task=t, model=m, n_dims=5, probe_mse=1.0, raw_mse=2.0, scale=1.0, shift=0.0)
                            for t in tasks for m in probe_models(config, t) for _ in range(2)])
    gd = pd.DataFrame([dict(task=t, method=meth, n_dims=5, mse=1.0, gamma=0.01)
                       for t in gd_reference_tasks(config) for meth in ("gd", "gdpp") for _ in range(2)])
    summary.to_csv(tmp_path / "summary.csv", index=False)
    gd.to_csv(tmp_path / "gd.csv", index=False)
    info = {"titles": {t: t for t in tasks}, "labels": {m: m for m in config["models"]},
            "models": {t: probe_models(config, t) for t in tasks}, "skipped": {t: [] for t in tasks},
            "data": {t: t for t in tasks}, "data_titles": {t: t for t in tasks},
            "main": {t: main_probe_models(config, t) for t in tasks},
            "other": {t: other_probe_models(config, t) for t in tasks}}
    settings = {k: v for k, v in probing_settings(config).items() if k != "tasks"}
    expected = probing_macros(config)
    out = tmp_path / "macros_probing.tex"
    macros_probing_job(settings, info, str(tmp_path / "summary.csv"), str(tmp_path / "gd.csv"), out, expected)
    assert set(parse_macros(out.read_text())) == set(expected["names"])
    with pytest.raises(AssertionError, match="differ from report.macros.paper_macros"):
        macros_probing_job(settings, info, str(tmp_path / "summary.csv"), None, out, expected)  # GD macros missing


def test_metric_directions_match_the_tasks():
    from mambaicl.report.labels import HIGHER_IS_BETTER
    from mambaicl.tasks import TASKS

    for name, cls in TASKS.items():
        assert (cls.metric in HIGHER_IS_BETTER) == cls.higher_is_better, name


def test_error_curves_draw_one_panel_per_paper(repo, tmp_path):
    """Each paper's panel shows its own models; Park's stops at the training length; RWKV is our extension."""
    import matplotlib.pyplot as plt

    from mambaicl.config import load_yaml, paper_groups
    from mambaicl.report import plots
    from mambaicl.validation import validate

    paper = validate(load_yaml(repo / "workflow/config/paper.yaml"))
    groups = paper_groups(paper, "linear_regression")
    assert groups["grazzi"] == ["transformer", "mamba", "s4"] and groups["extension"] == ["rwkv"]
    assert "mamba_park" in groups["park"] and "rwkv" not in groups["park"]
    rows = [dict(kind=kind, name=name, label=name, k=k, normalized_mean=1.0, normalized_ci_low=0.9,
                 normalized_ci_high=1.1) for kind, name in [("model", "g"), ("model", "p"), ("baseline", "ls")]
            for k in range(30)]
    saved = {}
    real_close = plt.close
    plots.plt.close = lambda fig: saved.setdefault("fig", fig)
    try:
        plots.plot_error_curves(pd.DataFrame(rows), tmp_path / "f.pdf", "LR", 11,
                                groups={"grazzi": ["g"], "park": ["p"], "extension": ["absent"]})
    finally:
        plots.plt.close = real_close
    axes = saved["fig"].axes
    assert len(axes) == 2  # the empty extension panel is dropped
    assert [line.get_label() for line in axes[0].lines if not line.get_label().startswith("_")] == ["g", "ls"]
    park_lines = [line for line in axes[1].lines if line.get_label() == "p"]
    assert max(park_lines[0].get_xdata()) == 10  # k < the training length of 11


def test_latex_escape_escapes_each_special_character_once():
    from mambaicl.report.latex import latex_escape

    assert latex_escape(r"a\b") == r"a\textbackslash{}b"  # its braces are not escaped again
    assert latex_escape("x_{1} 50% ~ ^ & # $") == r"x\_\{1\} 50\% \textasciitilde{} \^{} \& \# \$"
    assert latex_escape("plain text") == "plain text"


def test_tables_shrink_to_the_text_width_but_never_grow_and_missing_numbers_read_as_dashes():
    from mambaicl.report.latex import FIT_TO_WIDTH, format_number

    assert r"\ifdim\width>\linewidth" in FIT_TO_WIDTH  # scale only a table wider than the text
    assert format_number(float("nan")) == "--" and format_number(0.12345, 2) == "0.12"


def _claim(cid, verdict, missing="", measured="", claim=None):
    return dict(id=cid, paper="Park", claim=claim or f"Table 1, {cid}: on par.", criterion="c", verdict=verdict,
                measured=measured, missing=missing, evidence="", extension=False)


def test_the_claims_table_collapses_untested_lines_that_share_a_reason():
    from mambaicl.report.claims import _row, claims_section_tex

    no_run = "no run of Park's {m} on a task instance mapped to this row"
    rows = [_claim("P1", "reproduced", measured="Mamba 0.1"),
            _claim("P6/linear_regression/mamba", "reproduced", measured="on par (0.2)"),
            _claim("P6/linear_regression/mambaformer", "not tested", "no model learned this task", "ours fails (1.1)"),
            *[_claim(f"P6/{t}/{m}", "not tested", no_run.format(m=m)) for t in ("decision_tree", "sparse_parity")
              for m in ("mamba", "mambaformer")],
            _claim("P6/cot/transformer", "not tested", "the row is not configured"),
            _claim("P7", "not tested", "no sweep")]
    df = pd.DataFrame(rows)
    tex = claims_section_tex(df)
    lines = [ln for ln in tex.splitlines() if ln.endswith(r"\\") and "&" in ln][1:]  # without the head
    # every tested line and every line with its own reason or numbers as it is; the four share one line
    for r in df.itertuples():
        if r.id.split("/")[1:2] not in (["decision_tree"], ["sparse_parity"]):
            assert _row(r) in lines, r.id
    summary = [ln for ln in lines if ln.startswith(r"\texttt{P6} &")]
    assert len(summary) == 1 and len(lines) == len(df) - 4 + 1
    assert "(4 lines: models mamba, mambaformer on tasks decision" in summary[0] and "sparse" in summary[0]
    assert r"no run of Park's \textit{model} on a task instance" in summary[0]
    assert lines.index(summary[0]) == 3  # where its first line was
    # the four columns fill the text width less the gaps, never more (fixed widths overran it by 1.6 pt)
    widths = [int(w) for w in re.findall(r"\\tabcolsep\)\*(\d+)/1000", tex)]
    assert len(widths) == 4 and sum(widths) == 1000


def test_the_claims_section_job_keeps_every_line_in_the_csv(tmp_path):
    from mambaicl.report.claims import claims_section_job

    df = pd.DataFrame([_claim(f"G1/{t}", "not tested", f"no task instance of {t} trains Grazzi's models",
                              claim=f"Mamba matches the Transformer on {t}.") for t in ("relu_nn", "decision_tree")])
    csv = tmp_path / "claims.csv"
    df.to_csv(csv, index=False)
    claims_section_job(str(csv), str(tmp_path / "claims.tex"), str(tmp_path / "macros.tex"))
    tex = (tmp_path / "claims.tex").read_text()
    assert r"Mamba matches the Transformer on \ldots{} (2 lines: relu\_\allowbreak{}nn, decision" in tex
    assert r"no task instance of \textit{task} trains" in tex
    assert r"\newcommand{\ClaimsNotTested}{2}" in (tmp_path / "macros.tex").read_text()


def test_the_seed_table_gives_each_seeds_window_error_of_the_metrics_file(tmp_path):
    import json

    from mambaicl.report.latex import format_number
    from mambaicl.report.seed_table import seeds_table_tex

    rng = np.random.default_rng(0)
    rows = [dict(task="lr", kind="model", name=name, label=label, seed=seed, k=k,
                 normalized_mean=float(rng.uniform(0.1, 0.9)) if k < 8 else 50.0)  # k >= T: outside the window
            for name, label, seeds in (("mamba", "Mamba", (1, 2)), ("transformer", "Transformer (no PE)", (1, 2)),
                                       ("s4", "S4", (2,)))
            for seed in seeds for k in range(10)]
    per_seed = pd.DataFrame(rows)
    per_seed.to_csv(tmp_path / "per_seed.csv", index=False)
    (tmp_path / "meta.json").write_text(json.dumps({"metric": "squared_error",
                                                    "spec": {"task": {"name": "linear_regression"}}}))
    tasks = {"lr": {"per_seed": str(tmp_path / "per_seed.csv"), "meta": str(tmp_path / "meta.json"),
                    "train_points": 8}}
    tex = seeds_table_tex(tasks, window=3, model_order=["transformer", "mamba", "s4"])
    body = {ln.split(" & ")[0]: ln.removesuffix(r" \\").split(" & ")[1:] for ln in tex.splitlines()
            if ln.endswith(r"\\") and " & " in ln and not ln.startswith("Model")}
    assert list(body) == ["Transformer (no PE)", "Mamba", "S4"]  # the config's model order, the figures' labels
    for name, label in (("mamba", "Mamba"), ("transformer", "Transformer (no PE)"), ("s4", "S4")):
        mine = per_seed[(per_seed.name == name) & per_seed.k.isin([5, 6, 7])]  # the last 3 positions before T = 8
        errs = mine.groupby("seed").normalized_mean.mean()
        expected = [format_number(errs[s], sig=True) if s in errs.index else "--" for s in (1, 2)]
        expected.append(format_number(errs.mean(), sig=True))
        expected.append(format_number(errs.max() - errs.min(), sig=True) if len(errs) > 1 else "--")
        assert body[label] == expected, label
    assert r"\textit{Linear regression (lr)}, $k = 5$--$7$" in tex
    assert r"\begin{longtable}{@{}lrrrr@{}}" in tex and r"\label{tab:seeds}" in tex and r"\endhead" in tex
    assert "--: no run of this model with this seed." in tex


@pytest.mark.skipif(not shutil.which("pdflatex"), reason="needs pdflatex")
def test_the_float_barrier_puts_waiting_floats_on_text_pages(tmp_path):
    """Three floats of half a page waiting at a section end: the page after it takes one, the third goes to the top
    of the next page with the next section's text below it (placeins' second try forced it onto a float page
    of its own, half empty)."""
    shutil.copy(REPO / "paper" / "floats.sty", tmp_path)
    figs = "\n".join(rf"\begin{{figure}}[tbp]\centering\rule{{2cm}}{{0.47\textheight}}\caption{{F{i}}}\label{{fig:{i}}}"
                     r"\end{figure}" for i in range(3))
    (tmp_path / "t.tex").write_text(rf"""\documentclass{{article}}
\usepackage{{floats}}
\begin{{document}}
\section{{One}} Text. {figs}
\FloatBarrier
\section{{Two}}\label{{sec:two}} Text after the barrier.
\end{{document}}
""")
    for _ in range(2):
        subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                       check=True, capture_output=True, timeout=60)
    pages = dict(re.findall(r"\\newlabel\{([^}]*)\}\{\{[^}]*\}\{(\d+)\}", (tmp_path / "t.aux").read_text()))
    assert pages["fig:2"] == pages["sec:two"], pages  # the last float shares its page with the text
