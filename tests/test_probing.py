"""Probing (spec 6): logit-lens decoding, the affine probe, GD / GD++ references, config checks, the smoke run."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from mambaicl.config import load_yaml, spec_hash
from mambaicl.evaluation.prompt_sets import generate_prompt_set, save_prompt_set
from mambaicl.errors import ConfigError
from mambaicl.models import build_model
from mambaicl.analysis.gd_reference import (
    gamma_grid,
    gd_iterates,
    gd_query_mse,
    gd_reference_job,
    gd_step_sizes,
    gdpp_iterates,
    select_gamma,
)
from mambaicl.analysis.probe_config import (
    GDPP_GAMMA_RELEASED,
    main_probe_models,
    other_probe_models,
    probe_models,
    probing_settings,
    skipped_models,
)
from mambaicl.analysis.probing import (
    decode_layers,
    decode_probe_prompts,
    fit_affine,
    probe_aggregate_job,
    probe_model_job,
    probe_scores,
    relative_depth,
)
from mambaicl.report.labels import plot_scale
from mambaicl.report.latex import macro_name, parse_macros
from mambaicl.report.probing_text import choice_macros, choice_switches
from mambaicl.tasks import PromptBatch, make_task
from mambaicl.training.checkpoints import atomic_save
from mambaicl.validation import validate

TINY = {
    "gpt2": {"backbone": "gpt2", "d_model": 16, "n_layer": 3, "n_head": 2},
    "gpt2_pe": {"backbone": "gpt2", "d_model": 16, "n_layer": 2, "n_head": 2, "positional_encoding": "learned",
                "max_tokens": 64},
    "mamba": {"backbone": "mamba", "d_model": 16, "n_layer": 3},
    "mamba_layer": {"backbone": "mamba", "d_model": 16, "n_layer": 2, "norm": "layer", "residual_in_fp32": False},
    "s4": {"backbone": "s4", "d_model": 16, "n_layer": 2, "d_state": 4},
    "s4_park": {"backbone": "s4_park", "d_model": 16, "n_layer": 2},
    "s4_mamba": {"backbone": "s4_mamba", "d_model": 16, "n_layer": 2},
    "standard_hybrid": {"backbone": "standard_hybrid", "d_model": 16, "n_layer": 3, "n_head": 2, "max_tokens": 64},
    "mambaformer": {"backbone": "mambaformer", "d_model": 16, "n_layer": 2, "n_head": 2},
    "rwkv": {"backbone": "rwkv", "d_model": 16, "n_layer": 2},
}
N_BLOCKS = {"gpt2": 3, "gpt2_pe": 2, "mamba": 3, "mamba_layer": 2, "s4": 2, "s4_park": 2, "s4_mamba": 2,
            "standard_hybrid": 3, "mambaformer": 3, "rwkv": 2}  # MambaFormer: n_layer + 1 blocks


def _batch(n_prompts=3, n_points=9, n_dims=4, seed=0) -> PromptBatch:
    return make_task("linear_regression", n_dims=n_dims).sample(n_prompts, n_points, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", list(TINY))
def test_decoding_the_last_block_is_the_models_prediction(name):
    task = make_task("linear_regression", n_dims=4)
    model = build_model(TINY[name], task.token_dim, seed=3).eval()
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():  # off the init (some zero-initialised projections make blocks identity maps)
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
    batch = _batch()
    with torch.no_grad():
        dec = decode_layers(model, task, batch)
        pred = model.predict(task, batch)
    assert dec.shape == (N_BLOCKS[name], 3, 9)
    assert torch.equal(dec[-1], pred)  # exactly: the same ops on the same stream
    assert not torch.allclose(dec[0], pred)  # an earlier block reads differently


def test_query_sequences_equal_decoding_each_prompt_alone():
    task = make_task("linear_regression", n_dims=4)
    model = build_model(TINY["mamba"], task.token_dim, seed=1).eval()
    b = _batch(n_prompts=2, n_points=8)
    n_context = 5
    ctx, query, max_diff = decode_probe_prompts(model, task, b.xs, b.ys, n_context, batch_size=4, progress=False)
    assert ctx.shape == (3, 2, 5) and query.shape == (3, 2, 3)
    assert max_diff == 0.0
    for j, q in enumerate(range(n_context, 8)):
        idx = list(range(n_context)) + [q]
        alone = decode_layers(model, task, PromptBatch(b.xs[:, idx], b.ys[:, idx])).double().numpy()
        np.testing.assert_allclose(query[:, :, j], alone[:, :, -1], atol=1e-6)
        np.testing.assert_allclose(ctx, alone[:, :, :n_context], atol=1e-6)  # context never sees the query


def test_affine_fit_recovers_known_scale_and_shift():
    rng = np.random.default_rng(0)
    pred = rng.normal(size=(4, 6, 10))
    scale, shift = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    a, b = fit_affine(pred, scale[..., None] * pred + shift[..., None])
    np.testing.assert_allclose(a, scale, atol=1e-12)
    np.testing.assert_allclose(b, shift, atol=1e-12)
    # with noise: the OLS estimate (checked against numpy's least squares), close to the truth
    x = rng.normal(size=200)
    y = 2.5 * x - 0.7 + 0.01 * rng.normal(size=200)
    a, b = fit_affine(x, y)
    ref = np.linalg.lstsq(np.stack([x, np.ones_like(x)], 1), y, rcond=None)[0]
    np.testing.assert_allclose([a, b], ref, atol=1e-10)
    assert abs(a - 2.5) < 0.01 and abs(b + 0.7) < 0.01
    # a constant read-out carries no information: scale 0, shift the mean target
    a, b = fit_affine(np.full(5, 3.0), np.arange(5.0))
    assert a == 0.0 and b == pytest.approx(2.0)


def test_probe_scores_of_an_affinely_wrong_decoder():
    rng = np.random.default_rng(1)
    ys = rng.normal(size=(5, 12))
    dec = 2.0 * ys + 1.0  # every block reads 2y + 1: probe error 0, raw error > 0
    dec = np.stack([dec, dec])  # 2 layers
    s = probe_scores(dec[:, :, :8], dec[:, :, 8:], ys, n_context=8, fit_start=4, fit_end=7)
    np.testing.assert_allclose(s["probe_mse"], 0.0, atol=1e-20)
    np.testing.assert_allclose(s["scale"], 0.5)
    np.testing.assert_allclose(s["shift"], -0.5)
    np.testing.assert_allclose(s["raw_mse"], ((ys[:, 8:] + 1.0) ** 2).mean(-1)[None].repeat(2, 0))


def test_relative_depth_and_plot_scale():
    np.testing.assert_allclose(relative_depth(24)[[0, 12, 23]], [0.0, 12 / 23, 1.0])
    assert relative_depth(1).tolist() == [1.0]
    assert plot_scale("per_dim", 20, "probe") == plot_scale("per_dim", 20, "gd") == 1 / 20
    assert plot_scale("released", 20, "probe") == 1.0 and plot_scale("released", 20, "gd") == 1 / 20  # 0.5 MSE 2/D
    with pytest.raises(ValueError):
        plot_scale("raw", 20, "gd")


def _well_conditioned(seed=0, n=40, d=5, q=7):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(3, n, d)), rng.normal(size=(3, n)), rng.normal(size=(3, q, d))


def test_gd_iterates_converge_to_least_squares():
    xs, ys, xq = _well_conditioned()
    eig = np.linalg.eigvalsh(np.einsum("bnd,bne->bde", xs, xs) / 40)
    np.testing.assert_allclose(gd_step_sizes(xs), 2 / (eig[:, -1] + eig[:, 0]))
    preds = gd_iterates(xs, ys, xq, n_iter=100)
    w_ls = np.stack([np.linalg.lstsq(x, y, rcond=None)[0] for x, y in zip(xs, ys)])
    target = np.einsum("bqd,bd->bq", xq, w_ls)
    np.testing.assert_array_equal(preds[0], 0.0)  # iterate 0: w = 0
    np.testing.assert_allclose(preds[-1], target, atol=1e-9)
    dist = np.abs(preds - target).max(axis=(1, 2))
    assert dist[10] < 1e-2 * dist[0] and np.all(np.diff(dist[:41:10]) < 0)  # linear convergence


def test_gd_matches_weight_space_gd():
    xs, ys, xq = _well_conditioned(seed=2)
    eta = gd_step_sizes(xs)
    w = np.zeros((3, 5))
    preds = gd_iterates(xs, ys, xq, n_iter=4)
    for t in range(1, 4):
        w = w - eta[:, None] * np.einsum("bnd,bn->bd", xs, np.einsum("bnd,bd->bn", xs, w) - ys) / 40
        np.testing.assert_allclose(preds[t], np.einsum("bqd,bd->bq", xq, w), atol=1e-12)


def test_gdpp_reduces_to_gd_and_helps_on_skewed_data():
    xs, ys, xq = _well_conditioned(seed=3)
    np.testing.assert_allclose(gd_iterates(xs, ys, xq, 6, gamma=0.0), gd_iterates(xs, ys, xq, 6))
    assert not np.allclose(gd_iterates(xs, ys, xq, 6, gamma=1e-3), gd_iterates(xs, ys, xq, 6))
    task = make_task("skewed_linear_regression", n_dims=10, rotation="fixed")
    b = task.sample(32, 30, torch.Generator().manual_seed(0))
    xs, ys = b.xs.double().numpy(), b.ys.double().numpy()
    gammas = np.geomspace(1e-5, 1e-1, 25)
    gamma, search = select_gamma(xs, ys, 20, gammas, select_iteration=10)
    assert gamma == search.gamma[search.query_mse.idxmin()]
    gd = gd_query_mse(xs, ys, 20, 11)[-1].mean()
    gdpp = gd_query_mse(xs, ys, 20, 11, gamma)[-1].mean()
    assert gdpp < 0.9 * gd  # preconditioning pays off on ill-conditioned inputs


def _static_gdpp_by_the_formula(x, y, xq, n_iter, gamma):
    """Spec 11.1 written out in weight space for one prompt: H = I - gamma X^T X once, from the untransformed
    X; GD on (X H, y) from w = 0 with step 2 / (L + mu) of the untransformed X^T X / n; queries x_q H."""
    n, d = x.shape
    h = np.eye(d) - gamma * x.T @ x
    eig = np.linalg.eigvalsh(x.T @ x / n)
    eta = 2.0 / (eig[-1] + eig[0])
    xt, qt, w, out = x @ h, xq @ h, np.zeros(d), []
    for _ in range(n_iter):
        out.append(qt @ w)
        w = w - eta * xt.T @ (xt @ w - y) / n
    return np.stack(out)


def test_static_gdpp_is_the_spec_formula_and_not_the_compounding_variant():
    xs, ys, xq = _well_conditioned(seed=4, n=12, d=3, q=5)
    gamma = 2e-2  # large enough on 12 points for the variants to part visibly
    static = gdpp_iterates(xs, ys, xq, 6, gamma)  # the default variant
    for b in range(3):
        np.testing.assert_allclose(static[:, b], _static_gdpp_by_the_formula(xs[b], ys[b], xq[b], 6, gamma),
                                   atol=1e-12)
    compounding = gdpp_iterates(xs, ys, xq, 6, gamma, "compounding")
    np.testing.assert_allclose(compounding, gd_iterates(xs, ys, xq, 6, gamma))
    assert np.abs(static[2:] - compounding[2:]).min() > 1e-6  # differ from the first transformed step on
    np.testing.assert_allclose(gdpp_iterates(xs, ys, xq, 6, 0.0), gd_iterates(xs, ys, xq, 6))  # gamma 0: GD
    with pytest.raises(ValueError):
        gdpp_iterates(xs, ys, xq, 6, gamma, "per_layer")


def test_grid_search_picks_the_lowest_loss_at_the_selected_iteration():
    task = make_task("skewed_linear_regression", n_dims=6, rotation="fixed")
    b = task.sample(16, 24, torch.Generator().manual_seed(1))
    xs, ys = b.xs.double().numpy(), b.ys.double().numpy()
    gammas = gamma_grid({"gamma_min": 1e-4, "gamma_max": 1e-1, "n_gammas": 13})
    np.testing.assert_allclose(gammas, 10 ** np.linspace(-4, -1, 13))
    gamma, search = select_gamma(xs, ys, 16, gammas, select_iteration=5)
    direct = [gd_query_mse(xs, ys, 16, 6, g)[5].mean() for g in gammas]  # iterate 5, static variant
    np.testing.assert_allclose(np.where(np.isfinite(direct), direct, np.inf), search.query_mse)
    assert gamma == gammas[int(np.nanargmin(direct))] and search.iteration.eq(5).all()
    # a different selected iteration can pick a different gamma, but always the argmin of that iterate
    gamma2, search2 = select_gamma(xs, ys, 16, gammas, select_iteration=1)
    assert gamma2 == search2.gamma[search2.query_mse.idxmin()]


def _gd_job(tmp_path, gdpp):
    data_spec = {"task": {"name": "skewed_linear_regression", "n_dims": 5, "rotation": "fixed"}, "n_prompts": 8,
                 "n_points": 20, "seed": 0}
    save_prompt_set(generate_prompt_set(data_spec), tmp_path / "p.npz", tmp_path / "p.json")
    settings = {"n_context": 12, "gd_iterations": 6, "bootstrap": {"n_resamples": 20, "ci": 0.95, "seed": 0},
                "gdpp": {"variant": "static", "gamma": GDPP_GAMMA_RELEASED, "gamma_min": 1e-4, "gamma_max": 1e-1,
                         "n_gammas": 4, "select_iteration": 5, **gdpp}}
    gd_reference_job({"lr": [str(tmp_path / "p.npz"), str(tmp_path / "p.json")]}, settings,
                     str(tmp_path / "gd.csv"), str(tmp_path / "search.csv"))
    return pd.read_csv(tmp_path / "gd.csv"), pd.read_csv(tmp_path / "search.csv")


def test_gd_reference_job_writes_the_fixed_gamma_or_the_search(tmp_path):
    gd, search = _gd_job(tmp_path, {})
    assert len(search) == 1 and search.source.iloc[0] == "fixed" and search.gamma.iloc[0] == GDPP_GAMMA_RELEASED
    assert (gd[gd.method == "gdpp"].gamma == GDPP_GAMMA_RELEASED).all() and set(gd.variant.dropna()) == {"static"}
    gd, search = _gd_job(tmp_path, {"gamma": "search", "variant": "compounding"})
    assert len(search) == 4 and search.selected.sum() == 1 and set(search.source) == {"search"}
    assert gd[gd.method == "gdpp"].gamma.iloc[0] == search[search.selected].gamma.iloc[0]
    assert set(search.variant) == {"compounding"}


def test_probing_defaults_are_the_releases(smoke):
    s = probing_settings({"probing": {"tasks": {}}})
    assert s["gdpp"]["variant"] == "static" and s["gdpp"]["gamma"] == 1.939212572065831e-4
    assert s["gdpp"]["n_gammas"] == 300 and s["gdpp"]["select_iteration"] == 22 and s["bootstrap"]["ci"] == 0.95


def test_main_figure_models_are_the_reference_transformer_and_mamba(smoke, repo):
    cfg = validate(copy.deepcopy(smoke))
    assert main_probe_models(cfg, "linear_regression") == ["transformer", "mamba"]
    assert other_probe_models(cfg, "linear_regression") == ["s4"]
    paper = validate(load_yaml(repo / "workflow" / "config" / "paper.yaml"))
    assert "skewed_linear_regression" in paper["probing"]["tasks"]  # as released: skewed-trained LR models
    assert main_probe_models(paper, "skewed_linear_regression") == ["transformer", "mamba"]
    assert set(other_probe_models(paper, "skewed_linear_regression")) == {"s4", "rwkv"}
    for f in ("paper", "cpu", "smoke"):
        assert load_yaml(repo / "workflow" / "config" / f"{f}.yaml")["probing"]["bootstrap"]["ci"] == 0.95


def test_choice_macros_name_every_choice():
    info = {"titles": {"lr": "LR"}, "labels": {"tf": "TF", "mb": "Mamba", "s4": "S4"},
            "models": {"lr": ["tf", "mb", "s4"]}, "main": {"lr": ["tf", "mb"]}, "other": {"lr": ["s4"]},
            "data_titles": {"lr": "Skewed LR"}}
    settings = probing_settings({"probing": {"tasks": {}}})
    v = choice_macros(settings, info)
    assert v["ProbeGdppVariant"] == "static" and v["ProbeGdppGamma"] == r"\ensuremath{1.939\times10^{-4}}"
    assert "the release's value" in v["ProbeGdppGammaText"] and "computed once" in v["ProbeGdppVariantText"]
    assert v["ProbeBandLevel"] == "95" and v["ProbeMainModelsText"] == "LR (TF, Mamba)"
    assert v["ProbeOtherModelsText"] == "LR (S4)"
    assert v["ProbeTrainDataText"] == "TF, Mamba, S4 trained on LR, probed on Skewed LR data"
    assert choice_switches(info) == {"ProbingOther": True}
    settings["gdpp"].update(gamma="search", variant="compounding")
    v = choice_macros(settings, info)
    assert v["ProbeGdppGamma"] == "search" and "300 values" in v["ProbeGdppGammaText"]
    assert "von Oswald" in v["ProbeGdppVariantText"]
    assert choice_switches({**info, "other": {"lr": []}}) == {"ProbingOther": False}


def test_probe_model_job_end_to_end(tmp_path):
    task = make_task("linear_regression", n_dims=4)
    spec = {"task": {"name": "linear_regression", "n_dims": 4}, "model": TINY["gpt2"], "seed": 5}
    model = build_model(spec["model"], task.token_dim, seed=5)
    atomic_save({"spec": spec, "spec_hash": spec_hash(spec), "model": model.state_dict()}, tmp_path / "model.pt")
    data_spec = {"task": {"name": "linear_regression", "n_dims": 4}, "n_prompts": 6, "n_points": 12, "seed": 0}
    save_prompt_set(generate_prompt_set(data_spec), tmp_path / "p.npz", tmp_path / "p.json")
    settings = {"n_context": 8, "fit_positions": {"start": 4, "end": 7}, "batch_size": 5}
    out = tmp_path / "probe.csv"
    probe_model_job("lr", "tf", 5, str(tmp_path / "model.pt"), str(tmp_path / "p.npz"), str(tmp_path / "p.json"),
                    settings, "cpu", 1, str(out))
    df = pd.read_csv(out)
    assert len(df) == 3 * 6 and set(df.layer) == {0, 1, 2}
    assert df.relative_depth.max() == 1.0 and (df.probe_mse >= 0).all()
    assert np.isfinite(df[["probe_mse", "raw_mse", "scale", "shift"]].to_numpy()).all()

    # aggregation over two "seeds": mean of per-seed means, CI around it
    out2 = tmp_path / "probe2.csv"
    df.assign(probe_mse=df.probe_mse * 3).to_csv(out2, index=False)
    agg = tmp_path / "summary.csv"
    probe_aggregate_job({"lr": {"tf": [str(out), str(out2)]}}, {"tf": "TF"}, {"tf": "gpt2"}, {"lr": 4},
                        {"n_resamples": 50, "ci": 0.9, "seed": 0}, str(agg))
    s = pd.read_csv(agg)
    expect = df.groupby("layer").probe_mse.mean() * 2  # (1 + 3) / 2
    np.testing.assert_allclose(s.probe_mse, expect.to_numpy())
    assert (s.probe_mse_ci_low <= s.probe_mse + 1e-12).all() and (s.probe_mse <= s.probe_mse_ci_high + 1e-12).all()
    assert s.n_seeds.eq(2).all() and s.n_layers.eq(3).all()


# --- configuration -------------------------------------------------------------------------------


@pytest.fixture
def smoke(repo):
    return load_yaml(repo / "workflow" / "config" / "smoke.yaml")


def _error(cfg) -> str:
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_config_without_probing_still_validates(smoke):
    smoke.pop("probing")
    validate(smoke)


@pytest.mark.parametrize("edit, words", [
    (lambda c: c["probing"].update(n_context=14), ["probing.n_context", "n_points"]),
    (lambda c: c["probing"].update(fit_positions={"start": 8, "end": 12}), ["probing.fit_positions"]),
    (lambda c: c["probing"]["tasks"].update(mqar={}), ["probing.tasks.mqar", "cannot be probed"]),
    (lambda c: c["probing"]["tasks"].update(quadratic={}), ["probing.tasks.quadratic", "no experiment trains"]),
    (lambda c: c["probing"]["tasks"]["linear_regression"].update(models=["transformer", "mamba_x"]),
     ["probing.tasks.linear_regression.models[1]", "mamba_x"]),
    (lambda c: c["probing"]["tasks"]["linear_regression"].update(data_task="cot_io"),
     ["probing.tasks.linear_regression"]),
    (lambda c: c["probing"]["tasks"]["linear_regression"].update(data_task="nope"), ["data_task", "nope"]),
    (lambda c: c["probing"]["tasks"]["linear_regression"].update(seeds=[7]), ["seeds[0]", "7"]),
    (lambda c: c["probing"].update(gd_scale="raw"), ["probing.gd_scale", "per_dim"]),
    (lambda c: c["probing"].update(n_contxt=3), ["probing.n_contxt", "n_context"]),
    (lambda c: c["probing"]["gdpp"].update(select_iteration=8, gamma="search"), ["select_iteration", "gd_iterations"]),
    (lambda c: c["probing"]["gdpp"].update(variant="statik"), ["probing.gdpp.variant", "did you mean 'static'"]),
    (lambda c: c["probing"]["gdpp"].update(gamma="serach"), ["probing.gdpp.gamma", "did you mean 'search'"]),
    (lambda c: c["probing"]["gdpp"].update(gamma="2e-4"), ["probing.gdpp.gamma", "is text", "2.0e-4"]),
    (lambda c: c["probing"]["gdpp"].update(gamma=-1.0e-4), ["probing.gdpp.gamma", "positive"]),
    (lambda c: c["probing"]["gdpp"].update(gama=1.0e-4), ["probing.gdpp.gama", "did you mean 'gamma'"]),
    (lambda c: c["probing"]["gdpp"].update(gamma="search", gamma_min=1.0e-2, gamma_max=1.0e-3),
     ["gamma_min", "gamma_max"]),
])
def test_bad_probing_config_is_named(smoke, edit, words):
    edit(smoke)
    msg = _error(smoke)
    for w in words:
        assert w in msg, msg


def test_data_task_with_other_dims_is_refused(smoke):
    smoke["tasks"]["skewed_linear_regression"]["n_dims"] = 4
    smoke["tasks"]["skewed_linear_regression"]["curriculum"]["dims"]["end"] = 4
    assert "n_dims" in _error(smoke)


def test_short_positional_table_is_skipped_by_default_and_refused_when_listed(smoke):
    smoke["probing"]["tasks"]["linear_regression"].pop("models")
    smoke["probing"]["n_context"] = 12  # 13 points = 26 tokens > transformer_pe's 24
    cfg = validate(copy.deepcopy(smoke))
    assert "transformer_pe" not in probe_models(cfg, "linear_regression")
    assert skipped_models(cfg, "linear_regression") == ["transformer_pe"]
    assert "standard_hybrid" in probe_models(cfg, "linear_regression")  # 32 tokens: fits
    smoke["probing"]["tasks"]["linear_regression"]["models"] = ["mamba", "transformer_pe"]
    msg = _error(smoke)
    assert "models[1]" in msg and "positional table" in msg and "n_context" in msg


# --- the smoke run ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_smoke_probing_outputs(smoke_run):
    res = smoke_run / "results/smoke/probing"
    summary = pd.read_csv(res / "summary.csv")
    assert set(map(tuple, summary[["task", "model"]].drop_duplicates().to_numpy())) == {
        ("linear_regression", "transformer"), ("linear_regression", "mamba"), ("linear_regression", "s4"),
        ("decision_tree", "transformer")}
    for _, d in summary.groupby(["task", "model"]):
        assert d.relative_depth.iloc[0] == 0.0 and d.relative_depth.iloc[-1] == 1.0 and len(d) == 2
    assert (summary.probe_mse_ci_low <= summary.probe_mse + 1e-12).all()
    assert summary[summary.task == "linear_regression"].n_seeds.eq(2).all()
    per_seed = pd.read_csv(res / "linear_regression/mamba/seed1/probe.csv")
    assert len(per_seed) == 2 * 16
    gd = pd.read_csv(res / "gd_reference.csv")
    assert set(gd.method) == {"gd", "gdpp"} and len(gd) == 2 * 8
    assert gd[gd.method == "gd"].mse.iloc[-1] < gd[gd.method == "gd"].mse.iloc[0]  # GD learns
    macros = parse_macros((smoke_run / "results/smoke/paper/generated/macros_probing.tex").read_text())
    last = summary[(summary.task == "linear_regression") & (summary.model == "mamba")].iloc[-1]
    assert macros[macro_name("Probe", "linear_regression", "mamba", "last")] == f"{last.probe_mse / 5:.3f}"
    assert macros["ProbeContext"] == "10" and macros["ProbeQueries"] == "4"
    assert macros["ProbeGdppVariant"] == "static" and macros["ProbeBandLevel"] == "95"
    for fig in ("probe_mse_by_depth", "probe_scale_shift_by_depth", "probe_mse_by_depth_other_models"):
        assert (smoke_run / f"results/smoke/paper/generated/figures/{fig}.pdf").read_bytes().startswith(b"%PDF")
