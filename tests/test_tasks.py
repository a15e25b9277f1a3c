"""Synthetic tasks: scales, layouts, masks, curriculum zeroing, options, seeding, validation."""

import math

import numpy as np
import pytest
import torch

from mambaicl.training.curriculum import Curriculum
from mambaicl.tasks import TASKS, make_task, task_from_spec
from mambaicl.tasks.nonlinear import tree_predict

EXPECTED = {"linear_regression", "skewed_linear_regression", "sparse_linear_regression", "relu_nn",
            "decision_tree", "noisy_linear_regression", "quadratic_regression", "ortho_outlier_regression",
            "many_outlier_regression", "sparse_parity", "mqar", "cot_io"}
REGRESSION = sorted(EXPECTED - {"sparse_parity"})


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def points_for(name, n=21):
    return 1 if name == "mqar" else n


def test_registry_has_every_task():
    assert set(TASKS) == EXPECTED
    for name, cls in TASKS.items():
        assert cls.name == name
    with pytest.raises(KeyError, match="unknown task"):
        make_task("nope")


@pytest.mark.parametrize("name", REGRESSION)
def test_zero_predictor_scores_one(name):
    """Target scale matches the normaliser: E[SE of 0] / normaliser ~ 1 on the scored positions."""
    task = make_task(name)
    n_prompts = 8192 if name == "mqar" else 2048
    batch = task.sample(n_prompts, points_for(name, 41), gen(1))
    zero = torch.zeros_like(batch.ys)
    value = torch.nanmean(task.errors(zero, batch).double()).item() / task.normalizer
    tol = 1e-5 if name in ("mqar", "noisy_linear_regression") else 0.06
    assert value == pytest.approx(1.0, abs=tol)


def test_parity_chance_is_half():
    task = make_task("sparse_parity")
    batch = task.sample(64, 140, gen())
    assert task.errors(torch.zeros_like(batch.ys), batch).mean().item() == 0.5
    assert task.loss(torch.zeros_like(batch.ys), batch).item() == pytest.approx(math.log(2), rel=1e-6)
    assert task.higher_is_better and task.metric == "accuracy"
    assert task.errors(batch.ys * 3.0, batch).mean().item() == 1.0
    assert task.errors(-batch.ys, batch).mean().item() == 0.0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_same_seed_same_prompts(name):
    task = make_task(name)
    n = points_for(name, 13)
    a = task.sample(8, n, gen(7), n_dims_active=task.n_dims)
    b = task.sample(8, n, gen(7), n_dims_active=task.n_dims)
    c = task.sample(8, n, gen(8), n_dims_active=task.n_dims)
    assert torch.equal(a.xs, b.xs) and torch.equal(a.ys, b.ys)
    assert (a.mask is None) == (b.mask is None) and (a.mask is None or torch.equal(a.mask, b.mask))
    assert a.extra.keys() == b.extra.keys() and all(torch.equal(a.extra[k], b.extra[k]) for k in a.extra)
    assert not torch.equal(a.xs, c.xs)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sampling_leaves_global_rngs_alone(name):
    task = make_task(name)
    torch_state, np_state = torch.random.get_rng_state(), np.random.get_state()[1].copy()
    task.sample(4, points_for(name, 5), gen())
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state)


@pytest.mark.parametrize("name", sorted(EXPECTED - {"mqar"}))
def test_curriculum_zeroes_exactly_the_inactive_dims(name):
    task = make_task(name)
    active = 2 if name in ("sparse_parity",) else 4
    batch = task.sample(64, 30, gen(2), n_dims_active=active)
    clean = batch.xs if name != "many_outlier_regression" else batch.xs[batch.mask]
    assert not clean[..., active:].any()  # many-outlier dummies are all-ones everywhere (spec 11.6)
    assert (batch.xs[..., :active] != 0).any(dim=(0, 1)).all()  # every active coordinate is used
    for key in ("x_dummy", "y_dummy"):
        if key in batch.extra:
            assert not batch.extra[key][..., active:].any()
    if name == "ortho_outlier_regression":  # the y dummy reaches the tokens: also zero beyond `active`
        y_tokens = task.tokens(batch)[:, 1::2]
        assert not y_tokens[..., active:][batch.mask].any()


def test_mqar_curriculum_zeroes_inactive_dims():
    task = make_task("mqar")
    batch = task.sample(16, 1, gen(), n_dims_active=7)
    assert not task.tokens(batch)[..., 7:].any()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_layout_shapes(name):
    task = make_task(name)
    n = points_for(name, 9)
    batch = task.sample(3, n, gen())
    tokens = task.tokens(batch)
    assert tokens.shape[0] == 3 and tokens.shape[2] == task.token_dim
    outputs = torch.randn(3, tokens.shape[1], task.out_dim, generator=gen(1))
    preds = task.predictions(outputs, batch)
    assert task.errors(preds, batch).shape == (3, n)
    assert torch.isfinite(task.loss(preds, batch))
    assert task.max_points(tokens.shape[1]) == n
    if name not in ("mqar", "cot_io"):
        assert tokens.shape[1] == 2 * n


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_default_config_is_a_valid_curriculum(name):
    cls = TASKS[name]
    cfg = cls.default_config()
    cur = Curriculum.from_dict(cfg["curriculum"])
    assert cur.dims.end <= cfg["n_dims"]
    assert cfg["eval_points"] >= cur.points.end
    task = cls(n_dims=cfg["n_dims"])
    dims, points = cur.at(0)
    task.sample(2, points, gen(), n_dims_active=dims)  # the start of the curriculum is samplable


def test_paper_curricula():
    assert TASKS["relu_nn"].default_config()["curriculum"]["points"] == {"start": 26, "end": 101, "inc": 5,
                                                                          "interval": 2000}
    many = Curriculum.from_dict(TASKS["many_outlier_regression"].DEFAULT_CURRICULUM)
    assert many.at(50_000)[1] == 512 and many.at(49_999)[1] == 510 and many.at(32_000)[0] == 20
    assert Curriculum.from_dict(TASKS["linear_regression"].DEFAULT_CURRICULUM).at(30_000) == (20, 41)


# --- skewed -----------------------------------------------------------------------------------------

def test_skewed_rotation_options():
    fixed = make_task("skewed_linear_regression", rotation="fixed", rotation_seed=5)
    assert torch.equal(fixed.transform(gen(1), 4), fixed.transform(gen(2), 4))
    other = make_task("skewed_linear_regression", rotation="fixed", rotation_seed=6)
    assert not torch.equal(fixed.transform(gen(1), 4), other.transform(gen(1), 4))
    per_batch = make_task("skewed_linear_regression")
    g = gen(3)
    s1, s2 = per_batch.transform(g, 4), per_batch.transform(g, 4)
    assert s1.shape == (20, 20) and not torch.allclose(s1, s2)
    per_prompt = make_task("skewed_linear_regression", rotation="per_prompt").transform(gen(3), 4)
    assert per_prompt.shape == (4, 20, 20) and not torch.allclose(per_prompt[0], per_prompt[1])
    assert fixed.eval_overrides() == {"rotation": "fixed"}
    # Cov(x) = S^T S: trace D and eigenvalues proportional to 1/(i+1)^2 (condition number 400)
    for s in (s1, per_prompt[2], fixed.transform(gen(), 1)):
        ev = torch.linalg.eigvalsh((s.T @ s).double()).flip(0)
        assert ev.sum().item() == pytest.approx(20.0, rel=1e-4)
        assert (ev[0] / ev[-1]).item() == pytest.approx(400.0, rel=1e-3)


def test_skewed_per_batch_prompts_share_a_covariance():
    task = make_task("skewed_linear_regression")
    xs = task.sample(512, 40, gen(4)).xs.reshape(-1, 20).double()
    cov = xs.T @ xs / xs.shape[0]
    top = torch.linalg.eigvalsh(cov).flip(0)
    assert top[0].item() / top[-1].item() > 100  # one shared, strongly skewed covariance


# --- sparse LR, ReLU, tree -----------------------------------------------------------------------

def test_sparse_support_among_active_coordinates():
    task = make_task("sparse_linear_regression")
    batch = task.sample(256, 5, gen(), n_dims_active=6)
    nonzero = batch.extra["w"] != 0
    assert (nonzero.sum(1) == 3).all()
    assert not nonzero[:, 6:].any()
    assert nonzero[:, :6].any(0).all()
    full = task.sample(256, 5, gen(1))
    assert (full.extra["w"] != 0).any(0).all()  # at evaluation every coordinate can be in the support


def test_relu_hidden_width_is_100():
    assert make_task("relu_nn").hidden == 100


def _slow_tree(x, split_dims, leaves):
    node = 0
    while node < len(split_dims):
        node = 2 * node + 2 if x[split_dims[node]] > 0 else 2 * node + 1
    return leaves[node - len(split_dims)]


def test_tree_vectorised_routing_matches_per_prompt_reference():
    task = make_task("decision_tree")
    batch = task.sample(5, 30, gen(9), n_dims_active=6)  # many splits on zeroed coordinates
    split_dims, leaves = batch.extra["split_dims"], batch.extra["leaves"]
    assert split_dims.shape == (5, 15) and leaves.shape == (5, 16)
    for b in range(5):
        for i in range(30):
            assert batch.ys[b, i].item() == _slow_tree(batch.xs[b, i].tolist(), split_dims[b].tolist(),
                                                        leaves[b].tolist())
    # a split on a zeroed coordinate sends left: a tree that only splits on coordinate 19
    xs = torch.zeros(1, 1, 20)
    assert tree_predict(xs, torch.full((1, 15), 19), torch.arange(16.0)[None]).item() == 0.0


# --- outliers -----------------------------------------------------------------------------------------

def _abs_cos(a, b):
    return ((a * b).sum(-1).abs() / (a.norm(dim=-1) * b.norm(dim=-1))).double()


def test_ortho_outliers_orthogonal_to_own_weight():
    task = make_task("ortho_outlier_regression")
    batch = task.sample(512, 101, gen(3))
    outlier = ~batch.mask
    assert outlier.float().mean().item() == pytest.approx(0.5, abs=0.02)
    # one constant dummy per prompt at every outlier x-position
    expected = batch.extra["x_dummy"][:, None, :].expand_as(batch.xs)
    assert torch.equal(batch.xs[outlier], expected[outlier])
    assert _abs_cos(batch.extra["x_dummy"], batch.extra["w"]).max().item() < 1e-5
    assert _abs_cos(batch.extra["y_dummy"], batch.extra["w"]).max().item() < 1e-5
    # clean pairs are exact LR pairs
    clean_y = (batch.xs @ batch.extra["w"][..., None]).squeeze(-1)
    assert torch.allclose(batch.ys[batch.mask], clean_y[batch.mask])
    # heavy-tailed dummy norms, as measured on the release (10/50/90 % quantiles 2.5 / 4.1 / 6.9)
    q = torch.quantile(batch.extra["x_dummy"].norm(dim=1), torch.tensor([0.1, 0.5, 0.9]))
    assert q.tolist() == pytest.approx([2.5, 4.1, 6.9], rel=0.2)


def test_ortho_outlier_y_token_is_the_second_dummy():
    task = make_task("ortho_outlier_regression")
    batch = task.sample(8, 20, gen(4))
    y_tokens = task.tokens(batch)[:, 1::2]
    outlier = ~batch.mask
    assert torch.equal(y_tokens[outlier], batch.extra["y_dummy"][:, None, :].expand_as(y_tokens)[outlier])
    assert torch.equal(y_tokens[batch.mask][:, 0], batch.ys[batch.mask])
    assert not y_tokens[batch.mask][:, 1:].any()
    assert not torch.allclose(batch.extra["x_dummy"], batch.extra["y_dummy"])


def test_ortho_fresh_reference_is_random_direction():
    task = make_task("ortho_outlier_regression", reference_weight="fresh")
    batch = task.sample(2048, 3, gen(5))
    mean_cos = _abs_cos(batch.extra["x_dummy"], batch.extra["w"]).mean().item()
    assert mean_cos == pytest.approx(0.18, abs=0.03)  # release: 0.194 over 64 prompts


def test_outlier_settings():
    fixed = make_task("ortho_outlier_regression", setting="fixed_dummy").sample(4, 10, gen())
    assert fixed.mask[0].tolist() == [True, True] + [False, True] * 4 and (fixed.mask == fixed.mask[0]).all()
    clean = make_task("ortho_outlier_regression", setting="wo_dummy").sample(4, 10, gen())
    assert clean.mask.all()
    many_fixed = make_task("many_outlier_regression", setting="fixed_dummy").sample(2, 30, gen())
    assert torch.nonzero(~many_fixed.mask[0]).flatten().tolist() == list(range(9))  # as released


def test_fixed_dummy_positions_released_and_even():
    from mambaicl.tasks.outliers import fixed_outlier_positions
    assert fixed_outlier_positions(101, 0.5) == list(range(2, 101, 2))  # spec 11.7: 2, 4, ..., 100
    assert fixed_outlier_positions(101, 0.5, "even") == list(range(2, 101, 2))
    assert fixed_outlier_positions(512, 0.9) == list(range(9))  # 1 // 0.1 == 9.0: positions 0-8 only
    even = fixed_outlier_positions(512, 0.9, "even")
    assert sorted(set(range(512)) - set(even))[:4] == [0, 1, 11, 21]
    assert len(even) == pytest.approx(0.9 * 512, abs=2)
    for n_points, p in [(101, 0.5), (512, 0.9), (40, 0.25)]:
        task = make_task("many_outlier_regression", outlier_prob=p, setting="fixed_dummy", fixed_spacing="even")
        mask = task.sample(2, n_points, gen()).mask[0]
        assert torch.nonzero(~mask).flatten().tolist() == fixed_outlier_positions(n_points, p, "even")


def test_fixed_spacing_option_changes_the_prompts():
    released = make_task("many_outlier_regression", setting="fixed_dummy").sample(2, 50, gen(3))
    even = make_task("many_outlier_regression", setting="fixed_dummy", fixed_spacing="even").sample(2, 50, gen(3))
    assert not torch.equal(released.mask, even.mask) and not torch.equal(released.xs, even.xs)
    ortho = make_task("ortho_outlier_regression", setting="fixed_dummy", fixed_spacing="even")
    assert ortho.fixed_spacing == "even"


def test_outlier_loss_and_metric_ignore_outliers():
    task = make_task("ortho_outlier_regression")
    batch = task.sample(16, 30, gen(6))
    preds = torch.randn(batch.ys.shape, generator=gen(7))
    moved = preds.masked_fill(~batch.mask, 1e6)
    assert task.loss(moved, batch).item() == pytest.approx(task.loss(preds, batch).item())
    errs = task.errors(moved, batch)
    assert torch.isnan(errs[~batch.mask]).all() and torch.isfinite(errs[batch.mask]).all()


def test_many_outlier_pairs():
    task = make_task("many_outlier_regression")
    batch = task.sample(64, 512, gen(8))
    outlier = ~batch.mask
    assert outlier.float().mean().item() == pytest.approx(0.9, abs=0.01)
    assert (batch.xs[outlier] == 1).all() and (batch.ys[outlier] == 1).all()
    tokens = task.tokens(batch)
    assert (tokens[:, 1::2][outlier][:, 0] == 1).all() and not tokens[:, 1::2][outlier][:, 1:].any()
    ones = task.sample(4, 50, gen(), n_dims_active=4)  # default: all-ones on all coordinates (spec 11.6)
    assert task.dummy_inactive == "one"
    assert (ones.xs[~ones.mask] == 1).all() and not ones.xs[ones.mask][:, 4:].any()
    zero = make_task("many_outlier_regression", dummy_inactive="zero").sample(4, 50, gen(), n_dims_active=4)
    assert (zero.xs[~zero.mask][:, :4] == 1).all() and not zero.xs[..., 4:].any()
    assert torch.equal(zero.mask, ones.mask) and not torch.equal(zero.xs, ones.xs)


# --- parity -----------------------------------------------------------------------------------------------

def test_parity_labels_are_the_product_over_the_support():
    task = make_task("sparse_parity")
    batch = task.sample(32, 140, gen(9))
    assert set(batch.xs.unique().tolist()) == {-1.0, 1.0}
    support = batch.extra["support"]
    assert support.shape == (32, 2) and (support[:, 0] != support[:, 1]).all()
    for b in range(32):
        assert torch.equal(batch.ys[b], batch.xs[b][:, support[b]].prod(-1))


def test_parity_support_per_prompt_vs_per_batch():
    per_prompt = make_task("sparse_parity").sample(64, 4, gen(1)).extra["support"].sort(1).values
    assert len({tuple(s) for s in per_prompt.tolist()}) > 10
    task = make_task("sparse_parity", support="per_batch")
    g = gen(1)
    first, second = task.sample(64, 4, g).extra["support"], task.sample(64, 4, g).extra["support"]
    assert (first == first[0]).all() and (second == second[0]).all()
    draws = {tuple(sorted(task.sample(2, 2, g).extra["support"][0].tolist())) for _ in range(20)}
    assert len(draws) > 1  # a fresh shared support per call


# --- MQAR ---------------------------------------------------------------------------------------------------

def test_mqar_layout_and_one_matching_key():
    task = make_task("mqar")
    batch = task.sample(512, 1, gen(2))
    keys, values, q = batch.extra["keys"], batch.extra["values"], batch.xs[:, 0]
    assert keys.shape == (512, 64, 20) and task.tokens(batch).shape == (512, 129, 20)
    assert torch.allclose(keys.norm(dim=-1), torch.tensor(math.sqrt(20.0)))
    assert torch.allclose(values.norm(dim=-1), torch.tensor(math.sqrt(20.0)))
    matches = (keys == q[:, None, :]).all(-1).sum(1)
    assert (matches == 1).all()
    assert torch.equal(batch.extra["target_index"], batch.extra["query_index"])
    assert torch.equal(batch.ys[:, 0], values[torch.arange(512), batch.extra["query_index"]])
    tokens = task.tokens(batch)
    assert torch.equal(tokens[:, 0:128:2], keys) and torch.equal(tokens[:, 1:128:2], values)
    assert torch.equal(tokens[:, -1], q)
    out = torch.zeros(512, 129, 20)
    out[:, -1] = 7.0
    assert (task.predictions(out, batch) == 7.0).all() and task.out_dim == 20


def test_mqar_released_query_can_match_no_key():
    task = make_task("mqar", query="released")
    batch = task.sample(13_000, 1, gen(3))
    matches = (batch.extra["keys"] == batch.xs[:, 0][:, None, :]).all(-1).sum(1)
    frac = (matches == 0).float().mean().item()
    assert frac == pytest.approx(1 / 65, abs=0.005)  # spec: 0.01538
    assert torch.equal(matches == 0, batch.extra["query_index"] == 64)


def test_mqar_metrics_match_release_measurements():
    task = make_task("mqar")
    batch = task.sample(4096, 1, gen(4))
    target = batch.ys
    assert task.errors(target, batch).abs().max().item() < 1e-9
    assert task.nearest_value_accuracy(target, batch).mean().item() == 1.0
    assert task.key_match_error(target, batch).mean().item() == 0.0
    noisy = target + 0.1 * torch.randn(target.shape, generator=gen(5))
    assert task.key_match_error(noisy, batch).mean().item() == pytest.approx(0.125, abs=0.03)
    assert task.nearest_value_accuracy(noisy, batch).mean().item() == 1.0
    noisy3 = target + 0.3 * torch.randn(target.shape, generator=gen(6))
    assert task.key_match_error(noisy3, batch).mean().item() == pytest.approx(0.32, abs=0.04)
    random = torch.randn(target.shape, generator=gen(7))
    assert task.key_match_error(random, batch).mean().item() == pytest.approx(0.98, abs=0.02)
    assert set(task.extra_metrics(noisy, batch)) == {"nearest_value_accuracy", "key_match_error"}


def test_mqar_noisy_query_is_renormalised():
    task = make_task("mqar", query_noise=1.0)
    batch = task.sample(256, 1, gen(5))
    assert torch.allclose(batch.xs.norm(dim=-1), torch.tensor(math.sqrt(20.0)))
    keys = batch.extra["keys"]
    nearest = torch.einsum("bd,bnd->bn", batch.xs[:, 0], keys).argmax(-1)
    assert torch.equal(nearest, batch.extra["target_index"])
    assert (batch.extra["target_index"] != batch.extra["query_index"]).any()


def test_mqar_max_points():
    task = make_task("mqar")
    assert task.max_points(129) == 1 and task.max_points(128) == 0


# --- CoT ------------------------------------------------------------------------------------------------

def test_cot_layout():
    task = make_task("cot_io", n_dims=6, hidden=4)
    batch = task.sample(3, 5, gen())
    tokens = task.tokens(batch)
    assert tokens.shape == (3, 15, 7)
    assert torch.equal(tokens[:, 0::3, :6], batch.xs)
    assert torch.equal(tokens[:, 1::3, :4], batch.extra["hidden_per_point"])
    assert torch.equal(tokens[:, 2::3, 0], batch.ys) and not tokens[..., -1].any()
    assert task.predictions(torch.zeros(3, 15, task.out_dim), batch).shape == (3, 5, 5)
    io = make_task("cot_io", mode="io")
    assert io.tokens(io.sample(2, 5, gen())).shape == (2, 10, 11)
    assert batch.truncate(2).extra["hidden_per_point"].shape == (3, 2, 4)


# --- validation -----------------------------------------------------------------------------------------

BAD = [
    ("linear_regression", {"n_dims": 0}, "n_dims"),
    ("sparse_linear_regression", {"sparsity": 21}, "sparsity"),
    ("sparse_linear_regression", {"sparsity": 0}, "sparsity"),
    ("skewed_linear_regression", {"rotation": "sometimes"}, "rotation"),
    ("skewed_linear_regression", {"rotation_seed": -1}, "rotation_seed"),
    ("relu_nn", {"hidden": 0}, "hidden"),
    ("decision_tree", {"depth": 0}, "depth"),
    ("noisy_linear_regression", {"noise_std": -1.0}, "noise_std"),
    ("ortho_outlier_regression", {"reference_weight": "other"}, "reference_weight"),
    ("ortho_outlier_regression", {"setting": "odd"}, "setting"),
    ("ortho_outlier_regression", {"outlier_prob": 1.5}, "outlier_prob"),
    ("many_outlier_regression", {"dummy_inactive": "two"}, "dummy_inactive"),
    ("many_outlier_regression", {"fixed_spacing": "uniform"}, "fixed_spacing"),
    ("ortho_outlier_regression", {"fixed_spacing": 1}, "fixed_spacing"),
    ("sparse_parity", {"k": 11}, "k"),
    ("sparse_parity", {"support": "shared"}, "support"),
    ("mqar", {"query": "any"}, "query"),
    ("mqar", {"n_pairs": 0}, "n_pairs"),
    ("mqar", {"query_noise": -0.1}, "query_noise"),
    ("cot_io", {"mode": "both"}, "mode"),
    ("linear_regression", {"n_dimz": 3}, "n_dims"),
]


@pytest.mark.parametrize("name,params,param", BAD)
def test_bad_parameters_raise_naming_the_parameter(name, params, param):
    with pytest.raises(ValueError, match=param):
        make_task(name, **params)


@pytest.mark.parametrize("name,n_points,active,param", [
    ("linear_regression", 0, None, "n_points"),
    ("linear_regression", 5, 21, "n_dims_active"),
    ("relu_nn", 5, 0, "n_dims_active"),
    ("sparse_linear_regression", 5, 2, "sparsity"),
    ("mqar", 2, None, "n_points"),
])
def test_bad_sample_arguments(name, n_points, active, param):
    with pytest.raises(ValueError, match=param):
        make_task(name).sample(2, n_points, gen(), n_dims_active=active)
    with pytest.raises(ValueError, match="n_prompts"):
        make_task(name).sample(0, 1, gen())


def test_task_from_spec_passes_options():
    task = task_from_spec({"name": "ortho_outlier_regression", "n_dims": 10, "reference_weight": "fresh"})
    assert task.n_dims == 10 and task.reference_weight == "fresh"


def test_rotation_qr_and_svd_give_the_same_covariance_distribution():
    """The GPU path's QR rotation and the CPU path's SVD rotation draw S = c U diag(lambda) U^T from one
    distribution: each is orthogonal, and over many draws S's first two moments agree (E[S] = c mean(lambda) I).
    A QR whose Q was not Haar (e.g. R's signs folded in unevenly) would bias the moments."""
    from mambaicl.tasks.linear_regression import covariance_transform, random_rotation, skewed_eigenvalues

    d, n = 4, 20_000
    lam = skewed_eigenvalues(d)
    moments = {}
    for method in ("svd", "qr"):
        u = random_rotation(torch.Generator().manual_seed(3), n, n_dims=d, method=method)
        assert torch.allclose(u @ u.transpose(-1, -2), torch.eye(d, dtype=u.dtype).expand(n, d, d), atol=1e-12)
        s = covariance_transform(u, lam).double()
        moments[method] = (s.mean(0), (s ** 2).mean(0))
    c = math.sqrt(d / float((lam ** 2).sum()))
    assert torch.allclose(moments["qr"][0], c * lam.mean() * torch.eye(d, dtype=torch.float64), atol=0.01)
    for a, b in zip(moments["svd"], moments["qr"]):
        assert torch.allclose(a, b, atol=0.01)
    with pytest.raises(ValueError, match="method"):
        random_rotation(torch.Generator(), n_dims=d, method="eig")


def test_rotation_keeps_the_svd_draw_on_cpu():
    """CPU results are unchanged: the default method on a CPU generator is the SVD."""
    from mambaicl.tasks.linear_regression import random_rotation

    a = random_rotation(torch.Generator().manual_seed(5), 2, n_dims=5)
    b = random_rotation(torch.Generator().manual_seed(5), 2, n_dims=5, method="svd")
    assert torch.equal(a, b)
