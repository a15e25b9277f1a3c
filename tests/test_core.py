"""Prompt layout, curriculum, GPT-2 backbone, baselines and statistics of the first slice."""

import numpy as np
import pandas as pd
import pytest
import torch

from mambaicl.evaluation.baselines import averaging, least_squares
from mambaicl.training.curriculum import Curriculum, Schedule
from mambaicl.models import build_model
from mambaicl.tasks.layout import interleave
from mambaicl.evaluation.stats import bootstrap_mean_ci
from mambaicl.tasks import make_task

GARG = {"dims": {"start": 5, "end": 20, "inc": 1, "interval": 2000},
        "points": {"start": 11, "end": 41, "inc": 2, "interval": 2000}}


def test_interleave_layout():
    xs = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)
    ys = torch.tensor([[10.0, 11.0, 12.0], [20.0, 21.0, 22.0]])
    tok = interleave(xs, ys)
    assert tok.shape == (2, 6, 4)
    assert torch.equal(tok[:, ::2], xs)
    assert torch.equal(tok[:, 1::2, 0], ys)
    assert not tok[:, 1::2, 1:].any()


def test_garg_curriculum_reaches_its_end_at_step_30000():
    cur = Curriculum.from_dict(GARG)
    assert cur.at(0) == (5, 11)
    assert cur.at(1999) == (5, 11)
    assert cur.at(2000) == (6, 13)
    assert cur.at(29_999) == (19, 39)
    assert cur.at(30_000) == (20, 41)
    assert cur.at(500_000) == (20, 41)


def test_schedule_rejects_bad_values():
    with pytest.raises(ValueError, match="interval"):
        Schedule(1, 2, 1, 0)
    with pytest.raises(ValueError, match="exceeds"):
        Schedule(5, 2)


def test_linear_regression_zeroes_inactive_dims_and_is_seeded():
    task = make_task("linear_regression", n_dims=8)
    a = task.sample(4, 6, torch.Generator().manual_seed(3), n_dims_active=3)
    b = task.sample(4, 6, torch.Generator().manual_seed(3), n_dims_active=3)
    assert torch.equal(a.xs, b.xs) and torch.equal(a.ys, b.ys)
    assert not a.xs[..., 3:].any() and a.xs[..., :3].abs().min() > 0


def test_linear_regression_zero_predictor_scores_one():
    task = make_task("linear_regression", n_dims=20)
    batch = task.sample(2048, 4, torch.Generator().manual_seed(0))
    assert (batch.ys ** 2).mean().item() / task.normalizer == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("pe,expected", [("none", 9_483_265), ("learned", 9_534_977)])
def test_gpt2_effective_parameters_match_the_spec(pe, expected):
    spec = dict(backbone="gpt2", d_model=256, n_layer=12, n_head=8, positional_encoding=pe, max_tokens=202,
                learning_rate=1e-4)
    assert build_model(spec, 20, seed=0).effective_parameters() == expected


TINY = dict(backbone="gpt2", d_model=32, n_layer=2, n_head=2, learning_rate=1e-3)


def test_gpt2_is_causal():
    model = build_model(TINY, 5, seed=0).eval()
    tokens = torch.randn(2, 12, 5)
    changed = tokens.clone()
    changed[:, 7:] = torch.randn(2, 5, 5)
    with torch.no_grad():
        a, b = model(tokens), model(changed)
    assert torch.allclose(a[:, :7], b[:, :7], atol=1e-6)
    assert not torch.allclose(a[:, 7:], b[:, 7:])


def test_same_seed_same_model_and_different_seed_differs():
    a, b, c = (build_model(TINY, 5, seed=s) for s in (1, 1, 2))
    for (n, p), q, r in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(p, q), n
    assert any(not torch.equal(p, r) for p, r in zip(a.parameters(), c.parameters()))


def test_learned_positions_limit_the_sequence_length():
    model = build_model(dict(TINY, positional_encoding="learned", max_tokens=10), 5, seed=0)
    assert model.max_tokens == 10
    with pytest.raises(ValueError, match="at most 10 tokens"):
        model(torch.randn(1, 12, 5))


def test_least_squares_matches_the_analytic_oracle(repo):
    ref = pd.read_csv(repo / "workflow" / "resources" / "reference" / "baselines_analytic.csv")
    rows = ref[(ref.task == "linear_regression") & (ref.baseline_or_object == "least_squares_min_norm")
               & (ref.kind == "analytic")]
    assert len(rows) >= 10
    task = make_task("linear_regression", n_dims=20)
    gen = torch.Generator().manual_seed(0)
    short = task.sample(4096, 41, gen)  # many prompts: the standard error at k < d is ~0.02
    long = task.sample(32, 200, gen)  # beyond d the error is exactly 0 on every prompt
    err_short = ((least_squares(short.xs, short.ys) - short.ys) ** 2).mean(0) / 20
    err_long = ((least_squares(long.xs, long.ys) - long.ys) ** 2).mean(0) / 20
    for row in rows.itertuples():
        k = int(row.n_in_context)
        err = err_short[k] if k < 41 else err_long[k]
        assert err.item() == pytest.approx(row.value, abs=0.08 if row.value > 0 else 1e-6), k


def test_least_squares_is_min_norm_when_underdetermined():
    xs = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])
    ys = torch.tensor([[2.0, 0.0]])
    pred = least_squares(xs, ys)
    # one example (1,0)->2: min-norm w = (2, 0), so the prediction at (1,1) is 2
    assert pred[0, 1].item() == pytest.approx(2.0)
    assert pred[0, 0].item() == 0.0


def test_averaging_matches_its_formula():
    task = make_task("linear_regression", n_dims=20)
    batch = task.sample(4096, 6, torch.Generator().manual_seed(1))
    err = ((averaging(batch.xs, batch.ys) - batch.ys) ** 2).mean(0) / 20
    for k in (1, 2, 5):  # E = (d + 1) / k for isotropic Gaussian inputs, noiseless
        assert err[k].item() == pytest.approx(21 / k, rel=0.1)


def test_bootstrap_interval_brackets_the_mean_and_shrinks_with_data():
    rng = np.random.default_rng(0)
    small = rng.normal(1.0, 1.0, size=(50, 3))
    large = rng.normal(1.0, 1.0, size=(5000, 3))
    m, lo, hi = bootstrap_mean_ci(small, 500, 0.9, np.random.default_rng(1))
    assert np.all(lo <= m) and np.all(m <= hi)
    _, lo2, hi2 = bootstrap_mean_ci(large, 500, 0.9, np.random.default_rng(1))
    assert np.all(hi2 - lo2 < hi - lo)
    # 90% interval of a mean of 5000 N(1,1): half-width ~ 1.645/sqrt(5000) = 0.023
    assert np.allclose((hi2 - lo2) / 2, 1.645 / np.sqrt(5000), rtol=0.25)


def test_bootstrap_over_seeds_averages_seed_means():
    a = np.ones((10, 2))
    b = 3 * np.ones((10, 2))
    m, lo, hi = bootstrap_mean_ci([a, b], 100, 0.9, np.random.default_rng(0))
    assert np.allclose(m, 2.0) and np.allclose(lo, 2.0) and np.allclose(hi, 2.0)
