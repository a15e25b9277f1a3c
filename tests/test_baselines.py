"""Baselines against analytic and measured reference values, hand-made cases and their contracts."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mambaicl.evaluation import baselines as bl
from mambaicl.evaluation.baselines import BASELINES, BASELINES_FOR_TASK, BASELINE_LABELS, run_baseline
from mambaicl.tasks import TASKS, PromptBatch, make_task


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def reference():
    return pd.read_csv(Path(__file__).resolve().parents[1] / "workflow" / "resources" / "reference"
                       / "baselines_analytic.csv")


def rows(ref, task, name, kind):
    r = ref[(ref.task == task) & (ref.baseline_or_object == name) & (ref.kind == kind)
            & (ref.quantity == "normalized_error")]
    return [(int(k), float(v)) for k, v in zip(r.n_in_context, r.value)]


def curve(task, name, batch, **options):
    errs = task.errors(run_baseline(name, batch, **options), batch).double()
    return (torch.nanmean(errs, 0) / task.normalizer).numpy()


def test_registry_shape():
    assert set(BASELINES_FOR_TASK) == set(TASKS)
    for names in BASELINES_FOR_TASK.values():
        assert all(n in BASELINES for n in names)
    assert set(BASELINE_LABELS) == set(BASELINES)
    assert {f"lasso_{a}" for a in ("1", "0.1", "0.01", "0.001", "0.0001")} <= set(BASELINES)
    with pytest.raises(KeyError, match="unknown baseline"):
        run_baseline("magic", PromptBatch(torch.zeros(1, 2, 3), torch.zeros(1, 2)))


# --- analytic oracles -------------------------------------------------------------------------------

def test_least_squares_analytic(reference):
    task = make_task("linear_regression")
    batch = task.sample(1024, 23, gen(11))
    c = curve(task, "least_squares", batch)
    checked = 0
    for k, value in rows(reference, "linear_regression", "least_squares_min_norm", "analytic"):
        if k < 23:
            assert c[k] == pytest.approx(value, rel=0.12, abs=0.02), k  # y^2 is heavy-tailed at one k
            checked += 1
    assert checked >= 8
    assert np.abs(c[20:]).max() < 1e-4  # 0 once k >= d (float32 inputs; k = d is the worst conditioned)


def test_averaging_analytic(reference):
    task = make_task("linear_regression")
    batch = task.sample(4096, 41, gen(12))
    c = curve(task, "averaging", batch)
    analytic = rows(reference, "linear_regression", "averaging", "analytic")
    assert len(analytic) >= 8
    for k, value in analytic:
        assert value == pytest.approx(21 / k, rel=1e-3)
        assert c[k] == pytest.approx(value, rel=0.1), k


def test_zero_baseline_and_sparse_least_squares(reference):
    task = make_task("sparse_linear_regression")
    batch = task.sample(1024, 20, gen(13))
    assert curve(task, "zero", batch).mean() == pytest.approx(1.0, abs=0.05)
    c = curve(task, "least_squares", batch)
    for k in (5, 10, 15, 19):  # same (d - k) / d expectation as dense LR (spec 2.3)
        assert c[k] == pytest.approx((20 - k) / 20, abs=0.06)


# --- measured rows (Garg's code on CPU) ----------------------------------------------------------------

def test_linear_regression_measured_rows(reference):
    task = make_task("linear_regression")
    batch = task.sample(1280, 41, gen(14))
    # The measured rows share one set of 1,280 prompts across positions, so their errors are
    # correlated (e.g. 3-NN sits ~0.07 above ours at every k); least squares is checked analytically.
    for ref_name, name, tol in (("knn_3", "nearest_neighbors", 0.15), ("averaging", "averaging", 0.25)):
        c = curve(task, name, batch)
        measured = rows(reference, "linear_regression", ref_name, "measured")
        assert len(measured) >= 8
        for k, value in measured:
            assert c[k] == pytest.approx(value, abs=tol, rel=0.1), (name, k)


def test_relu_measured_rows(reference):
    task = make_task("relu_nn")
    batch = task.sample(640, 101, gen(15))
    c = curve(task, "nearest_neighbors", batch)
    for k, value in rows(reference, "relu_2nn_regression", "knn_3", "measured"):
        assert c[k] == pytest.approx(value, abs=0.1), k
    short = batch[:320].truncate(41)  # least squares is the slow one: fewer, shorter prompts
    c = curve(task, "least_squares", short)
    for k, value in rows(reference, "relu_2nn_regression", "least_squares_min_norm", "measured"):
        if k in (10, 40):  # k = 20 is the interpolation spike, dominated by single prompts
            assert c[k] == pytest.approx(value, abs=0.25), k


def test_tree_measured_rows(reference):
    task = make_task("decision_tree")
    batch = task.sample(640, 101, gen(16))
    # The tree rows come from only 128 prompts and are very noisy: two 128-prompt sets of ours differ
    # by up to 0.4 at the same k. Our 3-NN sits 0.2-0.4 below them, close to the random-neighbour
    # level (4/3) Var_within(y) ~ 1.25 that 3-NN cannot exceed by much; hence the wide tolerance.
    c = curve(task, "nearest_neighbors", batch)
    for k, value in rows(reference, "decision_tree", "knn_3", "measured"):
        assert c[k] == pytest.approx(value, abs=0.5), k
        assert c[k] < 4 / 3 + 0.1
    # The greedy-tree rows (128 prompts) are noisier still: our own 128-prompt sets move by 0.4 at one k,
    # so they are not asserted; on 128 prompts we measured depth-4 1.53 / 1.33 / 0.91 at k = 10 / 40 / 100
    # against the rows' 1.71 / 1.05 / 1.16. The tree learners are checked on a function they can represent.


def test_greedy_trees_recover_an_axis_aligned_step():
    xs = torch.randn(6, 30, 3, generator=gen(17))
    ys = torch.where(xs[..., 1] > 0, 1.0, -1.0)
    for name in ("greedy_tree_depth4", "greedy_tree"):
        preds = run_baseline(name, PromptBatch(xs, ys))
        assert (torch.sign(preds[:, 15:]) == ys[:, 15:]).float().mean().item() > 0.9, name


def test_lasso_on_sparse_regression():
    task = make_task("sparse_linear_regression")
    batch = task.sample(12, 21, gen(18))
    c = curve(task, "lasso_0.01", batch)
    assert c[0] == pytest.approx(curve(task, "zero", batch)[0])
    assert c[15:].max() < 0.02  # measured: 0 from k = 15 on
    assert c[10] < 0.3  # measured: 0.05 on 128 prompts


def test_lasso_small_alpha_matches_least_squares_for_k_at_least_d():
    task = make_task("linear_regression", n_dims=5)
    batch = task.sample(6, 12, gen(19))
    ls = bl.least_squares(batch.xs, batch.ys)
    la = run_baseline("lasso_0.0001", batch)
    assert torch.allclose(la[:, 6:], ls[:, 6:], atol=5e-3)
    assert (la[:, 0] == 0).all()


def test_lasso_convergence_warning_is_an_error():
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso

    x = np.random.default_rng(0).normal(size=(30, 5))
    y = x @ np.arange(5.0)
    with pytest.raises(ConvergenceWarning):
        bl._fit_predict_prompt(x, y, np.ones(30, bool),
                               lambda: Lasso(alpha=1e-6, fit_intercept=False, max_iter=1, tol=1e-12))
    with pytest.raises(ValueError, match="alpha"):
        bl.lasso(torch.zeros(1, 3, 2), torch.zeros(1, 3), alpha=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bl._fit_predict_prompt(x, y, np.ones(30, bool), lambda: Lasso(alpha=0.01, fit_intercept=False,
                                                                       max_iter=100_000))


# --- hand-made cases -----------------------------------------------------------------------------------

def test_nearest_neighbors_hand_made():
    xs = torch.tensor([0.0, 10.0, 1.0, 11.0, 0.4, 10.6])[None, :, None]
    ys = torch.tensor([1.0, 20.0, 3.0, 40.0, 5.0, 7.0])[None]
    preds = bl.nearest_neighbors(xs, ys)[0].tolist()
    # 0 examples -> 0; 1 -> its y; 2 -> mean of both; then the 3 nearest previous x
    assert preds == pytest.approx([0.0, 1.0, 10.5, 8.0, (1 + 3 + 20) / 3, (20 + 40 + 3) / 3])
    mask = torch.tensor([[True, False, True, True, True, True]])  # drop the pair at x = 10
    masked = bl.nearest_neighbors(xs, ys, mask=mask)[0].tolist()
    assert masked == pytest.approx([0.0, 1.0, 1.0, 2.0, (1 + 3 + 40) / 3, (40 + 5 + 3) / 3])


def test_averaging_and_least_squares_hand_made():
    xs = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]])
    ys = torch.tensor([[3.0, 4.0, 5.0]])
    assert bl.averaging(xs, ys)[0].tolist() == pytest.approx([0.0, 0.0, (3 + 8) / 2])
    ls = bl.least_squares(xs, ys)[0].tolist()
    assert ls == pytest.approx([0.0, 0.0, 3.0 + 2.0])  # w = (3, 2) after two pairs


def test_masked_least_squares_equals_least_squares_on_clean_pairs():
    task = make_task("many_outlier_regression", n_dims=5)
    batch = task.sample(4, 40, gen(20))
    preds = run_baseline("least_squares", batch)
    for b in range(4):
        for i in range(1, 40):
            keep = batch.mask[b, :i]
            if keep.sum() == 0:
                assert preds[b, i] == 0
                continue
            w = torch.linalg.pinv(batch.xs[b, :i][keep].double()) @ batch.ys[b, :i][keep].double()
            assert preds[b, i].item() == pytest.approx((batch.xs[b, i].double() @ w).item(), abs=1e-4)


@pytest.mark.parametrize("name", ["least_squares", "averaging", "nearest_neighbors", "parity_gf2",
                                  "parity_support_vote", "greedy_tree_depth4"])
def test_predictions_use_only_earlier_pairs(name):
    task = make_task("sparse_parity" if name.startswith("parity") else "linear_regression", n_dims=6)
    batch = task.sample(3, 12, gen(21))
    base = run_baseline(name, batch)
    cut = 7
    other = task.sample(3, 12, gen(22))
    xs, ys = batch.xs.clone(), batch.ys.clone()
    xs[:, cut + 1:], ys[:, cut:] = other.xs[:, cut + 1:], other.ys[:, cut:]
    moved = run_baseline(name, PromptBatch(xs, ys))
    assert torch.allclose(base[:, : cut + 1], moved[:, : cut + 1])
    assert (base[:, 0] == 0).all()


# --- NN trained by GD -----------------------------------------------------------------------------------

def test_nn_gd_seeded_independent_and_learning():
    task = make_task("linear_regression", n_dims=2)
    batch = task.sample(4, 26, gen(23))
    a = bl.nn_gd(batch.xs, batch.ys, seed=1, chunk=32)
    assert torch.equal(a, bl.nn_gd(batch.xs, batch.ys, seed=1, chunk=32))
    assert not torch.equal(a, bl.nn_gd(batch.xs, batch.ys, seed=2, chunk=32))
    assert (a[:, 0] == 0).all() and torch.isfinite(a).all()
    # the networks of one prompt never see another prompt's data
    ys = batch.ys.clone()
    ys[1:] = -ys[1:] * 3
    assert torch.equal(bl.nn_gd(batch.xs, ys, seed=1, chunk=32)[0], a[0])
    err = ((a - batch.ys) ** 2)[:, 20:].mean()
    assert err < 0.3 * (batch.ys[:, 20:] ** 2).mean()  # fits a 2-d linear function from 20+ examples


def test_nn_gd_minibatches_subsample_beyond_batch_size():
    task = make_task("linear_regression", n_dims=2)
    batch = task.sample(2, 8, gen(24))
    full = bl.nn_gd(batch.xs, batch.ys, seed=0, batch_size=100, steps=5)
    sub = bl.nn_gd(batch.xs, batch.ys, seed=0, batch_size=3, steps=5)
    assert torch.allclose(full[:, :4], sub[:, :4])  # k <= 3: the whole training set either way
    assert not torch.allclose(full[:, 5:], sub[:, 5:])


# --- trees, xgboost -------------------------------------------------------------------------------------

def test_xgboost_and_trees_small():
    task = make_task("decision_tree", n_dims=4)
    batch = task.sample(4, 12, gen(25))
    for name in ("xgboost", "greedy_tree", "greedy_tree_depth4"):
        part = batch[:2].truncate(6) if name == "xgboost" else batch  # xgboost: ~20-70 ms per fit
        p = run_baseline(name, part, n_jobs=1)
        assert p.shape == part.ys.shape and (p[:, 0] == 0).all() and torch.isfinite(p).all()
        assert torch.equal(p, run_baseline(name, part, n_jobs=1))
    assert torch.equal(run_baseline("greedy_tree_depth4", batch, n_jobs=2), run_baseline("greedy_tree_depth4", batch))
    tree = run_baseline("greedy_tree", batch)
    assert torch.allclose(tree[:, 1], batch.ys[:, 0])  # one example: predict its y


# --- parity and MQAR references -------------------------------------------------------------------------

def test_parity_references():
    task = make_task("sparse_parity")
    batch = task.sample(64, 140, gen(26))
    for name in ("parity_gf2", "parity_support_vote"):
        preds = run_baseline(name, batch)
        acc = task.errors(preds, batch)
        assert acc[:, 0].mean().item() == 0.5
        assert acc[:, -20:].mean().item() == 1.0
        confident = preds.abs() == 1
        assert (acc[confident] == 1).all()  # never wrong once the label is determined
    gf2 = task.errors(run_baseline("parity_gf2", batch), batch).mean(0)
    vote = task.errors(run_baseline("parity_support_vote", batch), batch).mean(0)
    assert (vote[1:12] >= gf2[1:12] - 1e-6).all() and vote[5] > gf2[5]  # the prior over |S| = 2 helps
    assert curve(task, "zero", batch).mean() == 0.5


def test_mqar_references():
    task = make_task("mqar")
    batch = task.sample(128, 1, gen(27))
    assert task.errors(run_baseline("mqar_nearest_key", batch), batch).max().item() < 1e-9
    assert curve(task, "mqar_zero", batch)[0] == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="extra"):
        bl.mqar_nearest_key(batch.xs, batch.ys)
