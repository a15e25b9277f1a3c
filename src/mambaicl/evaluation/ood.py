"""Garg et al.'s out-of-distribution evaluation suite for linear-regression-trained models (spec 5.5).

Fourteen non-standard settings (``OOD_SETTINGS``); ``standard`` is the task's own prompt set.

- Prompt strategies (``PROMPT_STRATEGIES``): query i is built from x[:i] followed by a second
  input set x'[i:], i.e. the context is the first i pairs of x and the query is x'_i.
  ``random_quadrants`` (context |x| * s, one sign pattern s per prompt; plain Gaussian queries),
  ``orthogonal_train_test`` (x'_i projected orthogonally to span(x[:i]) and rescaled to its own
  norm; defined for i < D only), ``overlapping_train_test`` (x'_i copies a uniformly random
  earlier x_j, j < i; x'_0 is a fresh Gaussian).
- Covariance shifts: ``half_subspace`` (eigenvalues 1 on D/2 random directions, 0 elsewhere,
  normalised to tr Cov = D) and ``skewed`` (spec 2.2), each one transform per prompt set.
- Scaling: ``scale_x_<s>`` multiplies x (hence y) by s, ``scale_y_<s>`` multiplies y by s,
  s in {0.333, 0.5, 2, 3}.
- Noise: ``noisyLR`` (spec 2.6: N(0, 1) label noise, whole-batch rescale to E[y^2] = D).

Layout of a prompt-strategy set. A causal model's prediction at position i depends only on the
first i pairs and x_i, so "query i built from x[:i] then x'[i:]" is exactly the prompt
(x_1, y_1, ..., x_i, y_i, x'_{i+1}) of i + 1 points read at its last position. Rather than
storing P full prompts per function (Garg evaluates P forward passes of length-P prompts, of
which only the first i + 1 points matter), the set stores ONE PromptBatch per function: ``xs``,
``ys`` the context inputs and labels, and in ``extra`` the queries ``query_xs_per_point``
(B, P, D), their labels ``query_ys_per_point`` (B, P) and ``query_valid_per_point`` (B, P) bool.
``query_prompt(batch, i)`` builds the (B, i + 1) prompts for query i and ``per_query_errors``
scores any predictor (model or baseline) position by position, i.e. P forward passes of growing
length (sum ~ P^2 / 2 points instead of Garg's P^2). Invalid queries (orthogonal, i >= D) are NaN.

Seeding (defect D11): prompts come from a generator seeded with ``seed``; the covariance
transforms from a separate CPU generator seeded with ``seed + TRANSFORM_SEED_OFFSET``.
"""

from __future__ import annotations

import torch

from ..tasks.base import PromptBatch, randn
from ..tasks.linear_regression import (
    LinearRegression,
    NoisyLinearRegression,
    covariance_transform,
    random_rotation,
    skewed_eigenvalues,
)

SCALES = (0.333, 0.5, 2.0, 3.0)
PROMPT_STRATEGIES = ("random_quadrants", "orthogonal_train_test", "overlapping_train_test")
COVARIANCE_SHIFTS = ("half_subspace", "skewed")
OOD_SETTINGS: tuple[str, ...] = (
    *PROMPT_STRATEGIES,
    *COVARIANCE_SHIFTS,
    *(f"scale_x_{s:g}" for s in SCALES),
    *(f"scale_y_{s:g}" for s in SCALES),
    "noisyLR",
)
TRANSFORM_SEED_OFFSET = 1_000_003


def _check_setting(setting: str) -> None:
    if setting not in OOD_SETTINGS:
        raise ValueError(f"ood: setting must be one of {', '.join(OOD_SETTINGS)}; got {setting!r}")


def _scale_of(setting: str) -> float:
    return float(setting.rsplit("_", 1)[1])


def reference_line(setting: str, n_dims: int = 20) -> float:
    """Garg's notebook reference line, in normalised error: s^2 for the scale settings (the zero
    predictor's level), 1 + 1/d for noisyLR (as given in spec 5.5), 1 otherwise."""
    if setting != "standard":
        _check_setting(setting)
    if setting.startswith(("scale_x_", "scale_y_")):
        return _scale_of(setting) ** 2
    if setting == "noisyLR":
        return 1.0 + 1.0 / n_dims
    return 1.0


def ood_task(setting: str, n_dims: int = 20) -> LinearRegression:
    """The task whose ``errors`` and ``normalizer`` (D) score this setting."""
    _check_setting(setting)
    return LinearRegression(n_dims)


def transform(setting: str, n_dims: int, generator: torch.Generator) -> torch.Tensor:
    """(D, D) input transform S (x = z S) of a covariance-shift setting, drawn from ``generator``."""
    u = random_rotation(generator, n_dims=n_dims)
    if setting == "skewed":
        eig = skewed_eigenvalues(n_dims)
    elif setting == "half_subspace":
        eig = torch.zeros(n_dims, dtype=torch.float64)
        eig[: n_dims // 2] = 1.0
    else:
        raise ValueError(f"ood: no covariance transform for setting {setting!r}")
    return covariance_transform(u, eig)


def sample_ood(setting: str, n_prompts: int, n_points: int, generator: torch.Generator, n_dims: int = 20,
               input_transform: torch.Tensor | None = None) -> PromptBatch:
    """One batch of ``setting``'s prompts on ``generator``'s device (a fresh w per prompt).

    Covariance shifts need ``input_transform`` (see ``transform``), shared by the whole set.
    """
    _check_setting(setting)
    task = LinearRegression(n_dims)
    if setting == "noisyLR":
        return NoisyLinearRegression(n_dims).sample(n_prompts, n_points, generator)
    xs = task._sample_inputs(n_prompts, n_points, generator, None)  # (B, P, D)
    w = randn(generator, n_prompts, n_dims, 1)
    if setting in COVARIANCE_SHIFTS:
        if input_transform is None:
            raise ValueError(f"ood: setting {setting!r} needs input_transform (ood.transform)")
        xs = xs @ input_transform.to(xs.device)
    elif setting.startswith("scale_x_"):
        xs = xs * _scale_of(setting)
    ys = (xs @ w).squeeze(-1)
    if setting.startswith("scale_y_"):
        ys = ys * _scale_of(setting)
    if setting not in PROMPT_STRATEGIES:
        return PromptBatch(xs, ys)

    queries = task._sample_inputs(n_prompts, n_points, generator, None)  # x', plain Gaussian
    valid = torch.ones(n_prompts, n_points, dtype=torch.bool, device=xs.device)
    if setting == "random_quadrants":
        signs = torch.where(randn(generator, n_prompts, 1, n_dims) > 0, 1.0, -1.0)
        xs = xs.abs() * signs  # every context x in one random orthant per prompt
    elif setting == "orthogonal_train_test":
        for i in range(1, n_points):
            if i >= n_dims:  # the span of i >= D generic examples is everything: undefined
                queries[:, i] = 0.0
                valid[:, i] = False
                continue
            q, _ = torch.linalg.qr(xs[:, :i].double().transpose(1, 2))  # (B, D, i) orthonormal span
            x = queries[:, i].double()
            proj = x - (q @ (q.transpose(1, 2) @ x[..., None]))[..., 0]
            proj = proj * (x.norm(dim=1, keepdim=True) / proj.norm(dim=1, keepdim=True).clamp_min(1e-30))
            queries[:, i] = proj.float()
    elif setting == "overlapping_train_test":
        for i in range(1, n_points):
            j = torch.randint(0, i, (n_prompts,), generator=generator, device=generator.device)
            queries[:, i] = xs[torch.arange(n_prompts, device=xs.device), j]
    ys = (xs @ w).squeeze(-1)  # recomputed: random_quadrants changed the context inputs
    query_ys = (queries @ w).squeeze(-1)
    return PromptBatch(xs, ys, extra={"query_xs_per_point": queries, "query_ys_per_point": query_ys,
                                      "query_valid_per_point": valid})


def make_ood_prompts(setting: str, n_prompts: int, n_points: int, seed: int, n_dims: int = 20,
                     chunk: int = 64) -> PromptBatch:
    """A whole seeded prompt set on CPU, drawn in chunks of ``chunk`` (one evaluation batch; the
    noisyLR rescale is per chunk) from one generator, like ``prompt_sets.generate_prompt_set``."""
    _check_setting(setting)
    gen = torch.Generator().manual_seed(seed)
    s = None
    if setting in COVARIANCE_SHIFTS:
        s = transform(setting, n_dims, torch.Generator().manual_seed(seed + TRANSFORM_SEED_OFFSET))
    parts = [sample_ood(setting, min(chunk, n_prompts - start), n_points, gen, n_dims, s)
             for start in range(0, n_prompts, chunk)]
    return concat(parts)


def concat(parts: list[PromptBatch]) -> PromptBatch:
    """Concatenate prompt batches along the batch dimension."""
    first = parts[0]
    return PromptBatch(
        torch.cat([p.xs for p in parts]),
        torch.cat([p.ys for p in parts]),
        None if first.mask is None else torch.cat([p.mask for p in parts]),
        {k: torch.cat([p.extra[k] for p in parts]) for k in first.extra},
    )


def has_query_strategy(batch: PromptBatch) -> bool:
    """True for prompt-strategy sets, which must be scored with ``per_query_errors``."""
    return "query_xs_per_point" in batch.extra


def query_prompt(batch: PromptBatch, i: int) -> PromptBatch:
    """The (B, i + 1)-point prompts of query i: context pairs 0..i-1 of x, then the query x'_i."""
    xs = torch.cat((batch.xs[:, :i], batch.extra["query_xs_per_point"][:, i : i + 1]), dim=1)
    ys = torch.cat((batch.ys[:, :i], batch.extra["query_ys_per_point"][:, i : i + 1]), dim=1)
    return PromptBatch(xs, ys)


def per_query_errors(predict, task, batch: PromptBatch) -> torch.Tensor:
    """(B, P) metric of ``predict`` (PromptBatch -> predictions aligned with ys, e.g.
    ``lambda b: model.predict(task, b)`` or ``lambda b: run_baseline(name, b)``) on a
    prompt-strategy set: entry i is the error at the last position of ``query_prompt(batch, i)``.
    Invalid queries are NaN."""
    n_points = batch.xs.shape[1]
    out = torch.full(batch.ys.shape, float("nan"), dtype=torch.float64, device=batch.xs.device)
    for i in range(n_points):
        qb = query_prompt(batch, i)
        out[:, i] = task.errors(predict(qb), qb)[:, -1].double()
    valid = batch.extra.get("query_valid_per_point")
    if valid is not None:
        out = out.masked_fill(~valid.to(out.device), float("nan"))
    return out
