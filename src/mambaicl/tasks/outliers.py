"""Park et al.'s outlier regression tasks (spec 2.7, 2.8): LR prompts in which some pairs are
replaced by dummies. Loss and metric use the clean positions only (``PromptBatch.mask``).

Evaluation settings (option ``setting``), errors always on clean positions:
- ``standard``: each position independently an outlier with probability ``outlier_prob``;
- ``fixed_dummy``: outliers at deterministic positions, the same in every prompt, placed per the
  option ``fixed_spacing`` (0-based positions):
  - ``released`` (default, spec 11.7, as read from Park et al.'s release): with p <= 0.5 the gap is
    floor(1 / p) and the outliers sit at gap, 2 gap, ... (p = 0.5: 2, 4, ..., 100 of 101 points). With
    p > 0.5 the release's gap computation (``1 // 0.1 == 9.0`` for p = 0.9) leaves a gap of 1 and only
    the first floor(1 / (1 - p)) positions are outliers (p = 0.9: positions 0-8, all others clean);
    release defect D-fixed-dummy;
  - ``even`` (the corrected spacing): position i >= 1 is an outlier iff floor(i p) - floor((i-1) p) = 1,
    i.e. a fraction p evenly spread, position 0 clean. It equals ``released`` for p = 0.5 (2, 4, ...);
    for p = 0.9 every position except 0, 1, 11, 21, ... is an outlier;
- ``wo_dummy``: no outliers (a clean LR prompt; the mask is all True).
"""

from __future__ import annotations


import torch

from .layout import interleave
from .base import CURRICULUM_LONG, PromptBatch, Task, _schedule, check_choice, check_range, rand, randn

SETTINGS = ("standard", "fixed_dummy", "wo_dummy")
FIXED_SPACINGS = ("released", "even")
_EPS = 1e-9  # guards floor() against binary round-off, e.g. 0.1 * 30 = 3.0000000000000004


def fixed_outlier_positions(n_points: int, p: float, spacing: str = "released") -> list[int]:
    """0-based outlier positions of the ``fixed_dummy`` setting (see the module docstring)."""
    check_choice("fixed_dummy", "fixed_spacing", spacing, FIXED_SPACINGS)
    if p <= 0.0:
        return []
    if spacing == "released":
        if p <= 0.5:
            gap = int(1.0 / p + _EPS)
            return list(range(gap, n_points, gap))
        # the release floor-divides by the clean probability as a decimal: 1 // 0.1 == 9.0, not 10
        count = int(1.0 // round(1.0 - p, 12)) if p < 1.0 else n_points
        return list(range(min(count, n_points)))
    return [i for i in range(1, n_points)
            if int(i * p + _EPS) - int((i - 1) * p + _EPS) >= 1]


def outlier_positions(generator: torch.Generator, n_prompts: int, n_points: int, p: float,
                      setting: str, spacing: str = "released") -> torch.Tensor:
    """(B, P) bool, True at outlier positions, per ``setting`` and ``spacing`` (module docstring)."""
    device = generator.device
    if setting == "standard":
        return rand(generator, n_prompts, n_points) < p
    if setting == "fixed_dummy":
        fixed = torch.zeros(n_points, dtype=torch.bool, device=device)
        fixed[fixed_outlier_positions(n_points, p, spacing)] = True
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

    def __init__(self, n_dims: int = 20, outlier_prob: float | None = None, setting: str = "standard",
                 fixed_spacing: str = "released"):
        super().__init__(n_dims)
        p = self.DEFAULT_OUTLIER_PROB if outlier_prob is None else outlier_prob
        check_range(self.name, "outlier_prob", p, 0.0, 1.0)
        check_choice(self.name, "setting", setting, SETTINGS)
        check_choice(self.name, "fixed_spacing", fixed_spacing, FIXED_SPACINGS)
        self.outlier_prob, self.setting, self.fixed_spacing = float(p), setting, fixed_spacing

    def _outliers(self, generator: torch.Generator, n_prompts: int, n_points: int) -> torch.Tensor:
        return outlier_positions(generator, n_prompts, n_points, self.outlier_prob, self.setting,
                                 self.fixed_spacing)

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
                 reference_weight: str = "task", fixed_spacing: str = "released"):
        super().__init__(n_dims, outlier_prob, setting, fixed_spacing)
        check_choice(self.name, "reference_weight", reference_weight, self.REFERENCE_WEIGHTS)
        self.reference_weight = reference_weight

    def sample(self, n_prompts, n_points, generator, n_dims_active=None) -> PromptBatch:
        active = self._check_sample_args(n_prompts, n_points, n_dims_active)
        xs = self._sample_inputs(n_prompts, n_points, generator, n_dims_active)
        w = randn(generator, n_prompts, self.n_dims)
        ys = (xs @ w[..., None]).squeeze(-1)
        outlier = self._outliers(generator, n_prompts, n_points)
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

    ``dummy_inactive``: value of the all-ones dummy on curriculum-inactive coordinates: ``one``
    (default, P's protocol, spec 11.6: the release writes the dummy after the curriculum truncation, so
    it is all-ones on all coordinates) or ``zero`` (our alternative: every x honours the curriculum).
    """

    name = "many_outlier_regression"
    DEFAULT_OUTLIER_PROB = 0.9
    DEFAULT_CURRICULUM = {"dims": _schedule(4, 20, 1, 2000), "points": _schedule(12, 512, 2, 200)}
    DEFAULT_EVAL_POINTS = 512

    def __init__(self, n_dims: int = 20, outlier_prob: float = 0.9, setting: str = "standard",
                 dummy_inactive: str = "one", fixed_spacing: str = "released"):
        super().__init__(n_dims, outlier_prob, setting, fixed_spacing)
        check_choice(self.name, "dummy_inactive", dummy_inactive, ("zero", "one"))
        self.dummy_inactive = dummy_inactive

    def sample(self, n_prompts, n_points, generator, n_dims_active=None) -> PromptBatch:
        active = self._check_sample_args(n_prompts, n_points, n_dims_active)
        xs = self._sample_inputs(n_prompts, n_points, generator, n_dims_active)
        w = randn(generator, n_prompts, self.n_dims, 1)
        ys = (xs @ w).squeeze(-1)
        outlier = self._outliers(generator, n_prompts, n_points)
        dummy = torch.ones(self.n_dims, device=xs.device)
        if self.dummy_inactive == "zero":
            dummy[active:] = 0.0
        xs = torch.where(outlier[..., None], dummy, xs)
        ys = torch.where(outlier, torch.ones_like(ys), ys)
        return PromptBatch(xs, ys, mask=~outlier)
