"""Garg's out-of-distribution suite: settings, seeding, geometry of each shift, per-query scoring."""

import pytest
import torch

from mambaicl.evaluation import ood
from mambaicl.evaluation.baselines import run_baseline
from mambaicl.tasks import PromptBatch


def ls(batch):
    return run_baseline("least_squares", batch)


def zero(batch):
    return torch.zeros_like(batch.ys)


def test_fourteen_settings_and_reference_lines():
    assert len(ood.OOD_SETTINGS) == 14 and len(set(ood.OOD_SETTINGS)) == 14
    assert ood.reference_line("standard") == 1.0
    assert ood.reference_line("random_quadrants") == 1.0
    assert ood.reference_line("scale_x_3") == pytest.approx(9.0)
    assert ood.reference_line("scale_y_0.333") == pytest.approx(0.333 ** 2)
    assert ood.reference_line("noisyLR", n_dims=20) == pytest.approx(1.05)
    with pytest.raises(ValueError, match="setting"):
        ood.make_ood_prompts("scale_x_4", 2, 3, seed=0)


@pytest.mark.parametrize("setting", ood.OOD_SETTINGS)
def test_seeded_and_shaped(setting):
    a = ood.make_ood_prompts(setting, 70, 23, seed=5)
    b = ood.make_ood_prompts(setting, 70, 23, seed=5)
    c = ood.make_ood_prompts(setting, 70, 23, seed=6)
    assert a.xs.shape == (70, 23, 20) and a.ys.shape == (70, 23)
    assert torch.equal(a.xs, b.xs) and torch.equal(a.ys, b.ys)
    assert all(torch.equal(a.extra[k], b.extra[k]) for k in a.extra)
    assert not torch.equal(a.ys, c.ys)
    assert ood.has_query_strategy(a) == (setting in ood.PROMPT_STRATEGIES)


@pytest.mark.parametrize("setting", [s for s in ood.OOD_SETTINGS if s not in ood.PROMPT_STRATEGIES])
def test_zero_predictor_sits_at_the_reference_scale(setting):
    batch = ood.make_ood_prompts(setting, 1024, 10, seed=1)
    value = (batch.ys.double() ** 2).mean().item() / 20
    expected = 1.0 if setting == "noisyLR" else ood.reference_line(setting)  # noisyLR: y rescaled to D
    assert value == pytest.approx(expected, rel=0.08)


def test_random_quadrants_context_in_one_orthant():
    batch = ood.make_ood_prompts("random_quadrants", 16, 30, seed=2)
    signs = torch.sign(batch.xs)
    assert (signs == signs[:, :1]).all()
    assert not (torch.sign(batch.extra["query_xs_per_point"]) == signs[:, :1]).all()
    w = torch.linalg.lstsq(batch.xs[0].double(), batch.ys[0].double()).solution
    assert torch.allclose(batch.xs[0].double() @ w, batch.ys[0].double(), atol=1e-4)  # labels follow the new x


def test_orthogonal_queries():
    batch = ood.make_ood_prompts("orthogonal_train_test", 8, 25, seed=3)
    q = batch.extra["query_xs_per_point"]
    valid = batch.extra["query_valid_per_point"]
    assert valid[:, :20].all() and not valid[:, 20:].any()
    for i in range(1, 20):
        assert (batch.xs[:, :i] @ q[:, i, :, None]).abs().max().item() < 1e-3
    assert q[:, 20:].abs().max().item() == 0
    errs = ood.per_query_errors(ls, ood.ood_task("orthogonal_train_test"), batch)
    zeros = ood.per_query_errors(zero, ood.ood_task("orthogonal_train_test"), batch)
    assert torch.isnan(errs[:, 20:]).all()
    assert torch.allclose(errs[:, :20], zeros[:, :20], rtol=1e-3, atol=1e-3)  # LS sees nothing of the query


def test_orthogonal_query_keeps_its_norm():
    gen = torch.Generator().manual_seed(4)
    batch = ood.sample_ood("orthogonal_train_test", 4, 6, gen)
    raw = torch.Generator().manual_seed(4)
    torch.randn(4, 6, 20, generator=raw)  # context inputs
    torch.randn(4, 20, 1, generator=raw)  # weights
    queries = torch.randn(4, 6, 20, generator=raw)
    assert torch.allclose(batch.extra["query_xs_per_point"].norm(dim=-1), queries.norm(dim=-1), rtol=1e-5)


def test_overlapping_queries_copy_an_earlier_example():
    batch = ood.make_ood_prompts("overlapping_train_test", 8, 15, seed=5)
    q = batch.extra["query_xs_per_point"]
    for i in range(1, 15):
        same = (batch.xs[:, :i] == q[:, i : i + 1]).all(-1).any(-1)
        assert same.all()
    errs = ood.per_query_errors(ls, ood.ood_task("overlapping_train_test"), batch)
    assert errs[:, 1:].max().item() < 1e-6  # least squares interpolates its own examples


def test_covariance_shifts():
    half = ood.make_ood_prompts("half_subspace", 4, 30, seed=6)
    for b in range(4):
        assert torch.linalg.matrix_rank(half.xs[b].double(), atol=1e-4).item() == 10
    s = ood.transform("skewed", 20, torch.Generator().manual_seed(0))
    ev = torch.linalg.eigvalsh((s.T @ s).double())
    assert (ev.max() / ev.min()).item() == pytest.approx(400, rel=1e-3) and ev.sum().item() == pytest.approx(20, rel=1e-4)
    # one transform per prompt set, drawn from the seed: the same inputs' covariance in every chunk
    sk = ood.make_ood_prompts("skewed", 128, 40, seed=7, chunk=64)
    s = ood.transform("skewed", 20, torch.Generator().manual_seed(7 + ood.TRANSFORM_SEED_OFFSET))
    for part in (sk.xs[:64], sk.xs[64:]):
        z = part.reshape(-1, 20).double() @ torch.linalg.inv(s.double())
        cov = z.T @ z / z.shape[0]
        assert (cov - torch.eye(20, dtype=cov.dtype)).abs().max().item() < 0.15


def test_scale_settings_scale_labels():
    x = ood.make_ood_prompts("scale_x_2", 16, 5, seed=8)
    y = ood.make_ood_prompts("scale_y_2", 16, 5, seed=8)
    assert torch.allclose(x.ys, y.ys, atol=1e-5)  # same draws: s x w = s (x w)
    assert torch.allclose(x.xs, 2 * y.xs)


def test_noisy_rescale_is_per_chunk():
    batch = ood.make_ood_prompts("noisyLR", 128, 41, seed=9, chunk=64)
    for part in (batch.ys[:64], batch.ys[64:]):
        assert (part.std().item() ** 2) == pytest.approx(20.0, rel=1e-4)
    errs = ood.ood_task("noisyLR").errors(ls(batch), batch)
    assert errs[:, 25:].mean().item() / 20 < 0.2  # noise-limited, no longer 0


def test_per_query_errors_equal_plain_errors_when_queries_are_the_context():
    batch = ood.make_ood_prompts("random_quadrants", 6, 12, seed=10)
    same = PromptBatch(batch.xs, batch.ys, extra={"query_xs_per_point": batch.xs, "query_ys_per_point": batch.ys})
    task = ood.ood_task("random_quadrants")
    for fn in (ls, lambda b: run_baseline("nearest_neighbors", b)):
        per_query = ood.per_query_errors(fn, task, same)
        assert torch.allclose(per_query, task.errors(fn(batch), batch).double(), atol=1e-5)
    q = ood.query_prompt(batch, 4)
    assert q.xs.shape == (6, 5, 20)
    assert torch.equal(q.xs[:, :4], batch.xs[:, :4]) and torch.equal(q.xs[:, 4], batch.extra["query_xs_per_point"][:, 4])
    assert torch.equal(q.ys[:, 4], batch.extra["query_ys_per_point"][:, 4])


def test_sampling_uses_no_global_rng():
    state = torch.random.get_rng_state()
    for setting in ood.OOD_SETTINGS:
        ood.make_ood_prompts(setting, 2, 22, seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)
