"""Classical in-context baselines (Garg et al. 2022; spec 5.3), batched over prompts.

Contract: ``BASELINES[name](xs, ys, **options) -> preds`` with xs (B, P, D), ys (B, P) and preds
(B, P) on xs's device. Prediction i uses only the first i pairs (x_1, y_1, ..., x_i, y_i) and the
query x_{i+1}; with no usable pair it is 0.

Optional keyword arguments, passed by ``run_baseline`` when a baseline accepts them:
- ``mask`` (B, P) bool: pairs where it is False are dropped from the context. On the outlier tasks
  this makes every baseline an oracle filter that sees the clean pairs only (spec 5.3's proposal);
- ``extra``: the ``PromptBatch.extra`` dict (MQAR's keys and values);
- ``n_jobs``: joblib workers for the per-prompt sklearn / xgboost fits (default 1);
- ``seed``: the explicit seed of the randomised baselines (NN trained by GD).

Vectorised in torch: zero, least squares, averaging, 3-NN, NN-GD (all prompts' and all k's
networks trained at once as batched matmuls), the parity and MQAR references. Per-prompt sklearn
and xgboost fits (Lasso, greedy trees, XGBoost) run in parallel over prompts with joblib.
"""

from __future__ import annotations

import inspect
import itertools
import math
import warnings
from functools import partial
from typing import Callable

import numpy as np
import torch

from ..tasks.base import PromptBatch

LASSO_ALPHAS = (1.0, 0.1, 0.01, 0.001, 0.0001)


def _context_mask(xs: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """(B, P) float: 1 for pairs a baseline may use as context."""
    if mask is None:
        return torch.ones(xs.shape[:2], dtype=xs.dtype, device=xs.device)
    return mask.to(device=xs.device, dtype=xs.dtype)


# --- vectorised baselines ------------------------------------------------------------------------

def zero(xs: torch.Tensor, ys: torch.Tensor, **_) -> torch.Tensor:
    """Always 0: normalised error 1 on the regression tasks, accuracy 0.5 (chance) on parity."""
    return torch.zeros(xs.shape[:2], dtype=xs.dtype, device=xs.device)


def least_squares(xs: torch.Tensor, ys: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Minimum-norm least squares; (B, P, D), (B, P) -> predictions (B, P).

    Uses the SVD-based pseudo-inverse in float64, which is correct for rank-deficient systems on any
    device (CUDA ``lstsq`` with the default gels driver is not; spec D15). Masked pairs become zero
    rows, which leaves the min-norm solution of the remaining rows unchanged.
    """
    m = _context_mask(xs, mask).double()
    xs64, ys64 = xs.double() * m[..., None], ys.double() * m
    query = xs.double()
    preds = torch.zeros_like(ys64)
    for i in range(1, xs.shape[1]):
        w = torch.linalg.pinv(xs64[:, :i]) @ ys64[:, :i, None]  # (B, D, 1)
        preds[:, i] = (query[:, i : i + 1] @ w)[:, 0, 0]
    return preds.to(ys.dtype)


def averaging(xs: torch.Tensor, ys: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """w_hat = mean_j x_j y_j over the first i (usable) pairs; predict x_i^T w_hat."""
    m = _context_mask(xs, mask)
    contrib = torch.cumsum(xs * (ys * m)[..., None], dim=1)  # (B, P, D) running sums of x_j y_j
    counts = torch.cumsum(m, dim=1)[..., None]  # (B, P, 1) usable pairs so far
    w_hat = contrib / counts.clamp_min(1.0)
    preds = torch.zeros_like(ys)
    preds[:, 1:] = (xs[:, 1:] * w_hat[:, :-1]).sum(-1)
    return preds


def nearest_neighbors(xs: torch.Tensor, ys: torch.Tensor, mask: torch.Tensor | None = None,
                      n_neighbors: int = 3) -> torch.Tensor:
    """Uniform average of the y of the min(k, 3) nearest previous x (Euclidean); vectorised.

    Ties in distance are broken towards the earlier example.
    """
    b, p, _ = xs.shape
    x64 = xs.double()
    dist = torch.cdist(x64, x64)  # (B, P, P): dist[b, i, j] = ||x_i - x_j||
    usable = torch.ones(p, p, dtype=torch.bool, device=xs.device).tril(-1)[None]  # j < i
    if mask is not None:
        usable = usable & mask.to(xs.device)[:, None, :]
    dist = dist.masked_fill(~usable, float("inf"))
    # a tiny index-proportional offset makes ties deterministic (earlier example first)
    dist = dist + torch.arange(p, device=xs.device, dtype=dist.dtype) * 1e-12
    n = min(n_neighbors, p)
    near_d, near_j = torch.topk(dist, n, dim=-1, largest=False)  # (B, P, n)
    valid = torch.isfinite(near_d)
    near_y = torch.gather(ys.double()[:, None, :].expand(b, p, p), 2, near_j)
    total = (near_y * valid).sum(-1)
    count = valid.sum(-1)
    return torch.where(count > 0, total / count.clamp_min(1), torch.zeros_like(total)).to(ys.dtype)


# --- 2-layer network trained by gradient descent, batched over prompts and k -----------------------

def nn_gd(xs: torch.Tensor, ys: torch.Tensor, mask: torch.Tensor | None = None, seed: int = 0,
          hidden: int = 100, steps: int = 100, lr: float = 5e-3, batch_size: int = 100,
          chunk: int = 16) -> torch.Tensor:
    """Garg's "2-layer NN, GD": for every prompt and every k a fresh D -> hidden -> 1 ReLU network
    with biases (PyTorch's default Linear init) is trained from scratch with Adam (lr 5e-3) for 100
    steps on mini-batches of up to 100 of the k examples (all k when k <= 100, else a fresh random
    100 per step), MSE loss; then it predicts the query x_{k+1}.

    All networks of ``chunk`` consecutive k for the whole batch are trained together as batched
    matmuls; the summed per-network losses give each network its own gradient, and Adam is
    element-wise, so this equals independent training. Randomness (init, mini-batches) comes from
    one ``torch.Generator`` seeded with ``seed`` on xs's device; results depend on ``chunk``.
    """
    b, p, d = xs.shape
    device = xs.device
    gen = torch.Generator(device=device).manual_seed(seed)
    m = _context_mask(xs, mask).bool()
    preds = torch.zeros(b, p, dtype=xs.dtype, device=device)
    bound1, bound2 = 1.0 / math.sqrt(d), 1.0 / math.sqrt(hidden)

    def uniform(*shape, bound):
        return (torch.rand(*shape, generator=gen, device=device) * 2 - 1) * bound

    for k0 in range(1, p, chunk):
        ks = torch.arange(k0, min(k0 + chunk, p), device=device)  # (K,) numbers of examples
        n_k = ks.shape[0]
        w1 = uniform(b, n_k, d, hidden, bound=bound1).requires_grad_()
        b1 = uniform(b, n_k, 1, hidden, bound=bound1).requires_grad_()
        w2 = uniform(b, n_k, hidden, 1, bound=bound2).requires_grad_()
        b2 = uniform(b, n_k, 1, 1, bound=bound2).requires_grad_()
        opt = torch.optim.Adam([w1, b1, w2, b2], lr=lr)
        k_max = int(ks[-1])
        # usable[b, k, j]: example j is in network (b, k)'s training set
        usable = (torch.arange(k_max, device=device)[None, :] < ks[:, None])[None] & m[:, None, :k_max]
        n_sel = min(batch_size, k_max)
        x_all = xs[:, None, :k_max].expand(b, n_k, k_max, d)
        y_all = ys[:, None, :k_max].expand(b, n_k, k_max)
        for _ in range(steps):
            # a random subset of up to batch_size usable examples per network: smallest random keys
            keys = torch.rand(b, n_k, k_max, generator=gen, device=device).masked_fill(~usable, 2.0)
            sel_key, sel = torch.topk(keys, n_sel, dim=-1, largest=False)  # (B, K, n_sel)
            weight = (sel_key < 2.0).to(xs.dtype)
            x_sel = torch.gather(x_all, 2, sel[..., None].expand(b, n_k, n_sel, d))
            y_sel = torch.gather(y_all, 2, sel)
            out = (torch.relu(x_sel @ w1 + b1) @ w2 + b2).squeeze(-1)  # (B, K, n_sel)
            per_net = ((out - y_sel) ** 2 * weight).sum(-1) / weight.sum(-1).clamp_min(1.0)
            opt.zero_grad(set_to_none=True)
            per_net.sum().backward()
            opt.step()
        with torch.no_grad():
            query = xs[:, ks][:, :, None, :]  # (B, K, 1, D): network (b, k) predicts x_{k+1}
            pred = (torch.relu(query @ w1 + b1) @ w2 + b2)[..., 0, 0]
            has_data = usable.any(-1)
            preds[:, ks] = torch.where(has_data, pred, torch.zeros_like(pred)).to(xs.dtype)
    return preds


# --- per-prompt sklearn / xgboost fits, parallel over prompts ------------------------------------------

def _fit_predict_prompt(x: np.ndarray, y: np.ndarray, m: np.ndarray, make_model: Callable) -> np.ndarray:
    """One prompt: for each i fit a fresh model on the usable pairs among the first i; predict x_i."""
    from sklearn.exceptions import ConvergenceWarning

    preds = np.zeros(len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # spec 5.3: a convergence warning is an error
        for i in range(1, len(y)):
            use = m[:i]
            if not use.any():
                continue
            model = make_model()
            model.fit(x[:i][use], y[:i][use])
            preds[i] = float(model.predict(x[i : i + 1])[0])
    return preds


def _per_prompt(xs: torch.Tensor, ys: torch.Tensor, mask: torch.Tensor | None, make_model: Callable,
                n_jobs: int) -> torch.Tensor:
    from joblib import Parallel, delayed

    x = xs.detach().double().cpu().numpy()
    y = ys.detach().double().cpu().numpy()
    m = np.ones(y.shape, dtype=bool) if mask is None else mask.cpu().numpy().astype(bool)
    rows = Parallel(n_jobs=n_jobs)(delayed(_fit_predict_prompt)(x[b], y[b], m[b], make_model)
                                   for b in range(x.shape[0]))
    return torch.from_numpy(np.stack(rows)).to(device=xs.device, dtype=ys.dtype)


def _lasso_model(alpha: float):
    from sklearn.linear_model import Lasso

    return Lasso(alpha=alpha, fit_intercept=False, max_iter=100_000)


def lasso(xs: torch.Tensor, ys: torch.Tensor, mask: torch.Tensor | None = None, alpha: float = 0.01,
          n_jobs: int = 1) -> torch.Tensor:
    """sklearn Lasso, no intercept, max_iter 100,000, one fit per prompt and k; a
    ConvergenceWarning raises (as an exception from the worker)."""
    if alpha <= 0:
        raise ValueError(f"lasso: alpha must be > 0; got {alpha}")
    return _per_prompt(xs, ys, mask, partial(_lasso_model, alpha), n_jobs)


def _tree_model(max_depth: int | None):
    from sklearn.tree import DecisionTreeRegressor

    return DecisionTreeRegressor(max_depth=max_depth, random_state=0)  # seeded feature permutation


def greedy_tree(xs: torch.Tensor, ys: torch.Tensor, mask: torch.Tensor | None = None,
                max_depth: int | None = None, n_jobs: int = 1) -> torch.Tensor:
    """sklearn DecisionTreeRegressor ("greedy tree learning"), one per prompt and k."""
    return _per_prompt(xs, ys, mask, partial(_tree_model, max_depth), n_jobs)


def _xgb_model():
    from xgboost import XGBRegressor

    return XGBRegressor(n_jobs=1)  # defaults otherwise (random_state 0); parallelism is over prompts


def xgboost(xs: torch.Tensor, ys: torch.Tensor, mask: torch.Tensor | None = None,
            n_jobs: int = 1) -> torch.Tensor:
    """XGBRegressor with default settings, one per prompt and k."""
    return _per_prompt(xs, ys, mask, _xgb_model, n_jobs)


# --- sparse parity references ------------------------------------------------------------------------

def parity_gf2(xs: torch.Tensor, ys: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Exact linear algebra over GF(2): the label bit (y < 0) is the XOR of the bits (x_j < 0) over
    the support, a linear equation. An XOR basis of the first i examples is kept per prompt; if the
    query lies in the span of the examples' inputs its label is determined and predicted (+-1),
    otherwise 0 (undetermined; scored 0.5). Assumes no prior on |S| (any parity); vectorised over
    prompts, loops over positions and bits. Needs D <= 62.
    """
    b, p, d = xs.shape
    if d > 62:
        raise ValueError(f"parity_gf2: at most 62 input dimensions; got {d}")
    dev = xs.device
    weights = 2 ** torch.arange(d, device=dev, dtype=torch.long)
    rows = ((xs < 0).long() * weights).sum(-1)  # (B, P) input bit patterns
    rhs = (ys < 0).long() << d  # label bit stored above the input bits
    usable = torch.ones(b, p, dtype=torch.bool, device=dev) if mask is None else mask.to(dev).bool()
    basis = torch.zeros(b, d, dtype=torch.long, device=dev)  # basis[:, j]: row whose highest input bit is j
    x_mask = (1 << d) - 1
    preds = torch.zeros(b, p, dtype=ys.dtype, device=dev)

    def reduce(v: torch.Tensor) -> torch.Tensor:
        for bit in range(d - 1, -1, -1):
            hit = (((v >> bit) & 1) == 1) & (basis[:, bit] != 0)
            v = torch.where(hit, v ^ basis[:, bit], v)
        return v

    for i in range(p):
        if i > 0:  # predict position i from the basis of the first i examples
            q = reduce(rows[:, i])
            determined = (q & x_mask) == 0
            label = 1.0 - 2.0 * ((q >> d) & 1).to(ys.dtype)
            preds[:, i] = torch.where(determined, label, torch.zeros_like(label))
        v = reduce(rows[:, i] | rhs[:, i])  # then insert example i
        rest = v & x_mask
        top = torch.full((b,), -1, dtype=torch.long, device=dev)
        for bit in range(d):
            top = torch.where(((rest >> bit) & 1) == 1, torch.full_like(top, bit), top)
        insert = (top >= 0) & usable[:, i]
        idx = top.clamp_min(0)
        current = torch.gather(basis, 1, idx[:, None])[:, 0]
        basis.scatter_(1, idx[:, None], torch.where(insert, v, current)[:, None])
    return preds


def parity_support_vote(xs: torch.Tensor, ys: torch.Tensor, mask: torch.Tensor | None = None,
                        k: int = 2) -> torch.Tensor:
    """Bayes-optimal learner under the task's prior (a uniform k-subset S): the posterior mean of y,
    i.e. the average of prod_{j in S} x_j over all supports consistent with the first i examples
    (C(D, k) of them; 45 for D = 10, k = 2). Vectorised; 0 with no examples."""
    b, p, d = xs.shape
    combos = torch.tensor(list(itertools.combinations(range(d), k)), device=xs.device)  # (C, k)
    feats = xs[..., combos].prod(-1)  # (B, P, C) the label under each support
    agree = (feats == ys[..., None]) | (~_context_mask(xs, mask).bool())[..., None]
    consistent = torch.cumprod(agree.to(torch.int8), dim=1).bool()  # through example j inclusive
    before = torch.cat((torch.ones_like(consistent[:, :1]), consistent[:, :-1]), dim=1)  # examples < i
    votes = (feats * before).sum(-1)
    count = before.sum(-1)
    preds = torch.where(count > 0, votes / count.clamp_min(1), torch.zeros_like(votes)).to(ys.dtype)
    preds[:, 0] = 0.0
    return preds


# --- MQAR reference ---------------------------------------------------------------------------------

def mqar_nearest_key(xs: torch.Tensor, ys: torch.Tensor, extra: dict | None = None) -> torch.Tensor:
    """MQAR oracle: the value paired with argmax_j <q, k_j> (the target's definition; error 0).
    xs (B, 1, D) is the query; returns (B, 1, D)."""
    if extra is None or "keys" not in extra:
        raise ValueError("mqar_nearest_key: needs extra={'keys': ..., 'values': ...} (use run_baseline)")
    keys, values = extra["keys"], extra["values"]
    j = torch.einsum("bd,bnd->bn", xs[:, 0], keys).argmax(-1)
    return values[torch.arange(keys.shape[0], device=keys.device), j][:, None, :]


def mqar_zero(xs: torch.Tensor, ys: torch.Tensor, **_) -> torch.Tensor:
    """The zero vector: normalised squared-norm error exactly 1."""
    return torch.zeros_like(ys)


# --- registry -----------------------------------------------------------------------------------------

def _lasso_name(alpha: float) -> str:
    return f"lasso_{alpha:g}"  # lasso_1, lasso_0.1, lasso_0.01, lasso_0.001, lasso_0.0001


BASELINES: dict[str, Callable[..., torch.Tensor]] = {
    "zero": zero,
    "least_squares": least_squares,
    "averaging": averaging,
    "nearest_neighbors": nearest_neighbors,
    **{_lasso_name(a): partial(lasso, alpha=a) for a in LASSO_ALPHAS},
    "nn_gd": nn_gd,
    "greedy_tree_depth4": partial(greedy_tree, max_depth=4),
    "greedy_tree": partial(greedy_tree, max_depth=None),
    "xgboost": xgboost,
    "parity_gf2": parity_gf2,
    "parity_support_vote": parity_support_vote,
    "mqar_nearest_key": mqar_nearest_key,
    "mqar_zero": mqar_zero,
}

BASELINE_LABELS = {
    "zero": "Zero predictor",
    "least_squares": "Least squares",
    "averaging": "Averaging",
    "nearest_neighbors": "3-Nearest neighbours",
    **{_lasso_name(a): f"Lasso (alpha = {a:g})" for a in LASSO_ALPHAS},  # plain text: escaped for LaTeX tables
    "nn_gd": "2-layer NN, GD",
    "greedy_tree_depth4": "Greedy tree (depth 4)",
    "greedy_tree": "Greedy tree",
    "xgboost": "XGBoost",
    "parity_gf2": "GF(2) elimination",
    "parity_support_vote": "Bayes (support vote)",
    "mqar_nearest_key": "Nearest-key oracle",
    "mqar_zero": "Zero vector",
}

_LINEAR = ["least_squares", "nearest_neighbors", "averaging"]

# Which baselines apply to which task (spec 5.3, 5.4): LS, 3-NN and averaging on every regression task,
# Lasso on sparse LR, NN-GD on ReLU, trees and XGBoost on trees. On the outlier tasks the baselines get
# the mask and use the clean pairs only (oracle filter). The first entry is the one G's plots show.
BASELINES_FOR_TASK: dict[str, list[str]] = {
    "linear_regression": _LINEAR,
    "skewed_linear_regression": _LINEAR,
    "noisy_linear_regression": _LINEAR,
    "quadratic_regression": _LINEAR,
    "sparse_linear_regression": ["least_squares", "lasso_0.01", "nearest_neighbors", "averaging",
                                 *[_lasso_name(a) for a in LASSO_ALPHAS if a != 0.01]],
    "relu_nn": ["least_squares", "nn_gd", "nearest_neighbors", "averaging"],
    "decision_tree": ["xgboost", "greedy_tree_depth4", "greedy_tree", "least_squares", "nearest_neighbors",
                      "averaging"],
    "ortho_outlier_regression": _LINEAR,
    "many_outlier_regression": _LINEAR,
    "sparse_parity": ["parity_support_vote", "parity_gf2", "zero"],
    "mqar": ["mqar_nearest_key", "mqar_zero"],
    "cot_io": ["least_squares", "nn_gd", "nearest_neighbors", "averaging"],
}

# The cheap subset, for quick configs and in-training checks.
FAST_BASELINES = {"zero", "least_squares", "averaging", "nearest_neighbors", "parity_gf2",
                  "parity_support_vote", "mqar_nearest_key", "mqar_zero"}


def _accepted(fn: Callable) -> set[str]:
    target = fn.func if isinstance(fn, partial) else fn
    params = inspect.signature(target).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return {"mask", "extra", "n_jobs", "seed"}
    return set(params)


def run_baseline(name: str, batch: PromptBatch, **options) -> torch.Tensor:
    """Predictions of baseline ``name`` on ``batch``, aligned with ``batch.ys``.

    Passes ``batch.mask`` and ``batch.extra`` and the given ``options`` (e.g. ``n_jobs``, ``seed``)
    to the baselines that accept them; options a baseline does not take are ignored.
    """
    try:
        fn = BASELINES[name]
    except KeyError:
        raise KeyError(f"unknown baseline '{name}'; known: {', '.join(sorted(BASELINES))}") from None
    accepted = _accepted(fn)
    kwargs = {k: v for k, v in options.items() if k in accepted}
    if "mask" in accepted and batch.mask is not None:
        kwargs["mask"] = batch.mask
    if "extra" in accepted:
        kwargs["extra"] = batch.extra
    return fn(batch.xs, batch.ys, **kwargs)
