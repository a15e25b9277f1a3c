"""Park et al.'s outlier regression tasks (spec 2.7, 2.8): LR prompts in which some pairs are
replaced by dummies. Loss and metric use the clean positions only (``PromptBatch.mask``).

Evaluation settings (option ``setting``), errors always on clean positions:
- ``standard``: each position independently an outlier with probability ``outlier_prob``;
- ``fixed_dummy``: outliers at deterministic, evenly spaced positions, the same in every prompt:
  position i is an outlier iff floor((i+1) p) - floor(i p) = 1 (p = 0.5: i = 1, 3, 5, ...;
  p = 0.9: every position except 0, 10, 20, ...), so position 0 is always clean;
- ``wo_dummy``: no outliers (a clean LR prompt; the mask is all True).
"""

from __future__ import annotations


import torch

from .layout import interleave
from .base import CURRICULUM_LONG, PromptBatch, Task, _schedule, check_choice, check_range, rand, randn

SETTINGS = ("standard", "fixed_dummy", "wo_dummy")


def outlier_positions(generator: torch.Generator, n_prompts: int, n_points: int, p: float,
                      setting: str) -> torch.Tensor:
    """(B, P) bool, True at outlier positions, per ``setting`` (see the module docstring)."""
    device = generator.device
    if setting == "standard":
        return rand(generator, n_prompts, n_points) < p
    if setting == "fixed_dummy":
        i = torch.arange(n_points, device=device, dtype=torch.float64)
        fixed = (torch.floor((i + 1) * p) - torch.floor(i * p)) >= 1
        return fixed[None].expand(n_prompts, n_points).clone()
    return torch.zeros(n_prompts, n_points, dtype=torch.bool, device=device)


def orthogonal_dummy(generator: torch.Generator, w_ref: torch.Tensor, active: int) -> torch.Tensor:
    """(B, D) dummy a u + b v with u, v orthogonal to ``w_ref`` (B, D) and to each other (spec 2.7).

    u, v are Gaussian on the active coordinates, Gram-Schmidt orthogonalised without
    renormalisation; a, b ~ N(0, 1) then rescaled in sequence as released:
    a <- a / (a^2 + b^2), b <- b / (a_new^2 + b^2) (heavy-tailed norms). Computed in float64 so
    |cos(dummy, w_ref)| is ~1e-16 before the cast to float32.
    """
    b_size, d = w_ref.shape
    w = w_ref.double().clone()
    w[:, active:] = 0.0
    w_hat = w / w.norm(dim=1, keepdim=True).clamp_min(1e-30)
    uv = randn(generator, 2, b_size, d, dtype=torch.float64)
    uv[..., active:] = 0.0
    u, v = uv[0], uv[1]
    u = u - (u * w_hat).sum(1, keepdim=True) * w_hat
    v = v - (v * w_hat).sum(1, keepdim=True) * w_hat
    u_hat = u / u.norm(dim=1, keepdim=True).clamp_min(1e-30)
    v = v - (v * u_hat).sum(1, keepdim=True) * u_hat
    ab = randn(generator, 2, b_size, 1, dtype=torch.float64)
    a, b = ab[0], ab[1]
    a = a / (a ** 2 + b ** 2)
    b = b / (a ** 2 + b ** 2)
    return (a * u + b * v).float()


class _OutlierTask(Task):
    DEFAULT_OUTLIER_PROB = 0.5

    def __init__(self, n_dims: int = 20, outlier_prob: float | None = None, setting: str = "standard"):
        super().__init__(n_dims)
        p = self.DEFAULT_OUTLIER_PROB if outlier_prob is None else outlier_prob
        check_range(self.name, "outlier_prob", p, 0.0, 1.0)
        check_choice(self.name, "setting", setting, SETTINGS)
        self.outlier_prob, self.setting = float(p), setting

    @property
    def normalizer(self) -> float:
        return float(self.n_dims)  # clean positions are plain LR: E[y^2] = D (to be confirmed, spec 2)


class OrthoOutlierRegression(_OutlierTask):
    """Orthogonal-outlier regression (Park et al.; spec 2.7), p = 0.5.

    Every outlier x-token of a prompt is one constant dummy a u + b v orthogonal to a reference
    weight; ``reference_weight``: ``task`` (default, the prompt's own w) or ``fresh`` (a freshly
    drawn w', release defect D1).

    Outlier y-token (our construction; the release's is to be confirmed): a second constant
    full-width dummy per prompt, built exactly like the x dummy from independent draws (own u, v
    orthogonal to the same reference weight, own a, b), zero on inactive coordinates. It replaces
    the whole y-token (not a zero-padded scalar); ``ys`` holds its first coordinate at outlier
    positions, which is never scored. Stored as ``extra['x_dummy']`` and ``extra['y_dummy']`` (B, D).
    """

    name = "ortho_outlier_regression"
    DEFAULT_CURRICULUM = CURRICULUM_LONG
    DEFAULT_EVAL_POINTS = 101
    REFERENCE_WEIGHTS = ("task", "fresh")

    def __init__(self, n_dims: int = 20, outlier_prob: float = 0.5, setting: str = "standard",
                 reference_weight: str = "task"):
        super().__init__(n_dims, outlier_prob, setting)
        check_choice(self.name, "reference_weight", reference_weight, self.REFERENCE_WEIGHTS)
        self.reference_weight = reference_weight

    def sample(self, n_prompts, n_points, generator, n_dims_active=None) -> PromptBatch:
        active = self._check_sample_args(n_prompts, n_points, n_dims_active)
        xs = self._sample_inputs(n_prompts, n_points, generator, n_dims_active)
        w = randn(generator, n_prompts, self.n_dims)
        ys = (xs @ w[..., None]).squeeze(-1)
        outlier = outlier_positions(generator, n_prompts, n_points, self.outlier_prob, self.setting)
        w_ref = w if self.reference_weight == "task" else randn(generator, n_prompts, self.n_dims)
        x_dummy = orthogonal_dummy(generator, w_ref, active)  # (B, D)
        y_dummy = orthogonal_dummy(generator, w_ref, active)  # (B, D)
        xs = torch.where(outlier[..., None], x_dummy[:, None, :], xs)
        ys = torch.where(outlier, y_dummy[:, None, 0], ys)
        return PromptBatch(xs, ys, mask=~outlier,
                           extra={"w": w, "x_dummy": x_dummy, "y_dummy": y_dummy})

    def tokens(self, batch: PromptBatch) -> torch.Tensor:
        tokens = interleave(batch.xs, batch.ys)  # (B, 2P, D)
        if batch.mask is None or "y_dummy" not in batch.extra:
            return tokens
        y_tokens = torch.where(batch.mask[..., None], tokens[:, 1::2], batch.extra["y_dummy"][:, None, :])
        return torch.stack((tokens[:, 0::2], y_tokens), dim=2).reshape(tokens.shape)


class ManyOutlierRegression(_OutlierTask):
    """Many-outlier regression (Park et al.; spec 2.8): with probability p = 0.9 a pair is replaced
    by (all-ones x, y = 1), i.e. tokens all-ones and (1, 0, ..., 0).

    ``dummy_inactive``: value of the all-ones dummy on curriculum-inactive coordinates, ``zero``
    (default: every x honours the curriculum) or ``one`` (to be confirmed against the release).
    """

    name = "many_outlier_regression"
    DEFAULT_OUTLIER_PROB = 0.9
    DEFAULT_CURRICULUM = {"dims": _schedule(4, 20, 1, 2000), "points": _schedule(12, 512, 2, 200)}
    DEFAULT_EVAL_POINTS = 512

    def __init__(self, n_dims: int = 20, outlier_prob: float = 0.9, setting: str = "standard",
                 dummy_inactive: str = "zero"):
        super().__init__(n_dims, outlier_prob, setting)
        check_choice(self.name, "dummy_inactive", dummy_inactive, ("zero", "one"))
        self.dummy_inactive = dummy_inactive

    def sample(self, n_prompts, n_points, generator, n_dims_active=None) -> PromptBatch:
        active = self._check_sample_args(n_prompts, n_points, n_dims_active)
        xs = self._sample_inputs(n_prompts, n_points, generator, n_dims_active)
        w = randn(generator, n_prompts, self.n_dims, 1)
        ys = (xs @ w).squeeze(-1)
        outlier = outlier_positions(generator, n_prompts, n_points, self.outlier_prob, self.setting)
        dummy = torch.ones(self.n_dims, device=xs.device)
        if self.dummy_inactive == "zero":
            dummy[active:] = 0.0
        xs = torch.where(outlier[..., None], dummy, xs)
        ys = torch.where(outlier, torch.ones_like(ys), ys)
        return PromptBatch(xs, ys, mask=~outlier)
