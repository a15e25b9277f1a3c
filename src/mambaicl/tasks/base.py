"""What every synthetic task provides.

A task owns its whole contract with the models: how prompts are sampled (seeded), how they become a
token sequence, which model outputs are predictions, the training loss and the evaluation metric.
The defaults implement the interleaved regression layout of Garg et al. 2022; tasks with another
layout (parity, MQAR, chain-of-thought) override the relevant methods.

Every task also states its paper defaults (spec section 2's table) as class attributes:
``DEFAULT_CURRICULUM`` (the ``tasks.<name>.curriculum`` config block), ``DEFAULT_EVAL_POINTS``,
``DEFAULT_N_DIMS``; ``default_config()`` returns them as one config-shaped dict.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from .layout import interleave, x_positions


@dataclass
class PromptBatch:
    """A batch of in-context prompts.

    xs:   (B, P, D) inputs; coordinates >= the active dimension count already zeroed.
    ys:   (B, P) scalar targets, or (B, P, Dy) for vector-valued tasks.
    mask: (B, P) bool, True where a position counts in loss and metric (None: every position).
    extra: task-specific tensors (e.g. MQAR keys and values), each with the batch as first dim.
    """

    xs: torch.Tensor
    ys: torch.Tensor
    mask: torch.Tensor | None = None
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> "PromptBatch":
        return PromptBatch(
            self.xs.to(device),
            self.ys.to(device),
            None if self.mask is None else self.mask.to(device),
            {k: v.to(device) for k, v in self.extra.items()},
        )

    def __getitem__(self, idx) -> "PromptBatch":
        """Slice the batch dimension."""
        return PromptBatch(self.xs[idx], self.ys[idx], None if self.mask is None else self.mask[idx],
                           {k: v[idx] for k, v in self.extra.items()})

    def truncate(self, n_points: int) -> "PromptBatch":
        """Keep the first ``n_points`` pairs of every prompt.

        Per-position extra tensors (name ending in ``_per_point``, shape (B, P, ...)) are cut too.
        """
        extra = {k: (v[:, :n_points] if k.endswith("_per_point") else v) for k, v in self.extra.items()}
        return PromptBatch(self.xs[:, :n_points], self.ys[:, :n_points],
                           None if self.mask is None else self.mask[:, :n_points], extra)

    def __len__(self) -> int:
        return self.xs.shape[0]


def check_choice(task: str, param: str, value: Any, allowed: tuple) -> None:
    """Raise ValueError naming ``param`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{task}: {param} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def check_range(task: str, param: str, value, low=None, high=None, integer: bool = False) -> None:
    """Raise ValueError naming ``param`` unless low <= value <= high (and an int if ``integer``)."""
    if integer and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{task}: {param} must be an integer; got {value!r}")
    if not integer and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValueError(f"{task}: {param} must be a number; got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{task}: {param} must be in [{lo}, {hi}]; got {value!r}")


def _schedule(start: int, end: int, inc: int = 0, interval: int = 1) -> dict:
    return {"start": start, "end": end, "inc": inc, "interval": interval}


# Spec section 2's curricula, in the config's shape (``tasks.<name>.curriculum``).
CURRICULUM_SHORT = {"dims": _schedule(5, 20, 1, 2000), "points": _schedule(11, 41, 2, 2000)}  # LR family
CURRICULUM_LONG = {"dims": _schedule(5, 20, 1, 2000), "points": _schedule(26, 101, 5, 2000)}  # ReLU, tree, ortho


class Task(ABC):
    """A function class. Each prompt gets its own freshly drawn function."""

    name: str = ""
    out_dim: int = 1  # width of the model's read-out
    metric: str = "squared_error"  # what ``errors`` returns per position
    higher_is_better: bool = False
    eval_only: bool = False  # True: evaluation-only generator (e.g. noisy LR), never trained on
    DEFAULT_N_DIMS: ClassVar[int] = 20
    DEFAULT_CURRICULUM: ClassVar[dict] = CURRICULUM_SHORT
    DEFAULT_EVAL_POINTS: ClassVar[int] = 41

    def __init__(self, n_dims: int = 20):
        check_range(self.name, "n_dims", n_dims, 1, None, integer=True)
        self.n_dims = n_dims

    @classmethod
    def default_config(cls) -> dict:
        """Paper defaults as a ``tasks.<name>`` config block: n_dims, eval_points and curriculum."""
        return {"n_dims": cls.DEFAULT_N_DIMS, "eval_points": cls.DEFAULT_EVAL_POINTS,
                "curriculum": copy.deepcopy(cls.DEFAULT_CURRICULUM)}

    def eval_overrides(self) -> dict:
        """Constructor parameters to override when building this task's in-distribution
        evaluation set (e.g. a fixed rotation for skewed LR). Empty for most tasks."""
        return {}

    @property
    def token_dim(self) -> int:
        """Width of one token, i.e. the read-in's input size."""
        return self.n_dims

    @property
    @abstractmethod
    def normalizer(self) -> float:
        """Divisor that makes the zero predictor score ~1 (E[y^2] at full dimension); 1 for accuracies."""

    @abstractmethod
    def sample(
        self,
        n_prompts: int,
        n_points: int,
        generator: torch.Generator,
        n_dims_active: int | None = None,
    ) -> PromptBatch:
        """Draw ``n_prompts`` prompts of ``n_points`` pairs on ``generator``'s device."""

    # --- the model contract; defaults: interleaved x, y tokens, scalar read-out at x-tokens -----

    def tokens(self, batch: PromptBatch) -> torch.Tensor:
        """(B, T, token_dim) model input."""
        return interleave(batch.xs, batch.ys)

    def predictions(self, outputs: torch.Tensor, batch: PromptBatch) -> torch.Tensor:
        """Model outputs (B, T, out_dim) -> predictions aligned with ``batch.ys``."""
        return x_positions(outputs)[..., 0]

    def max_points(self, max_tokens: int) -> int:
        """Longest prompt, in points, whose token sequence fits in ``max_tokens``."""
        return max_tokens // 2

    def loss(self, preds: torch.Tensor, batch: PromptBatch) -> torch.Tensor:
        """Training loss: mean squared error over the scored positions (not divided by D)."""
        se = (preds - batch.ys) ** 2
        if batch.mask is None:
            return se.mean()
        m = batch.mask.to(se.dtype)
        if se.dim() == 3:
            m = m[..., None].expand_as(se)
        return (se * m).sum() / m.sum().clamp_min(1.0)

    def errors(self, preds: torch.Tensor, batch: PromptBatch) -> torch.Tensor:
        """(B, P) per-position metric, NaN where the mask excludes a position."""
        se = (preds - batch.ys) ** 2
        if se.dim() == 3:
            se = se.sum(-1)
        if batch.mask is not None:
            se = se.masked_fill(~batch.mask, float("nan"))
        return se

    def extra_metrics(self, preds: torch.Tensor, batch: PromptBatch) -> dict[str, torch.Tensor]:
        """Secondary metrics, name -> (B, P) tensor like ``errors`` (e.g. MQAR's accuracies)."""
        return {}

    # --- helpers for subclasses ----------------------------------------------------------------

    def _check_sample_args(self, n_prompts: int, n_points: int, n_dims_active: int | None) -> int:
        """Validate the sampling arguments; returns the active dimension count."""
        check_range(self.name, "n_prompts", n_prompts, 1, None, integer=True)
        check_range(self.name, "n_points", n_points, 1, None, integer=True)
        active = self.n_dims if n_dims_active is None else n_dims_active
        check_range(self.name, "n_dims_active", active, 1, self.n_dims, integer=True)
        return active

    def _sample_inputs(
        self, n_prompts: int, n_points: int, generator: torch.Generator, n_dims_active: int | None
    ) -> torch.Tensor:
        """Isotropic Gaussian inputs with the curriculum's inactive coordinates set to zero."""
        self._check_sample_args(n_prompts, n_points, n_dims_active)
        xs = torch.randn(n_prompts, n_points, self.n_dims, generator=generator, device=generator.device)
        return self._zero_inactive(xs, n_dims_active)

    def _zero_inactive(self, xs: torch.Tensor, n_dims_active: int | None) -> torch.Tensor:
        active = self.n_dims if n_dims_active is None else n_dims_active
        check_range(self.name, "n_dims_active", active, 1, self.n_dims, integer=True)
        if active < self.n_dims:
            xs[..., active:] = 0.0
        return xs


def randn(generator: torch.Generator, *shape: int, dtype=torch.float32) -> torch.Tensor:
    """Standard normal draws on ``generator``'s device."""
    return torch.randn(*shape, generator=generator, device=generator.device, dtype=dtype)


def rand(generator: torch.Generator, *shape: int) -> torch.Tensor:
    """Uniform [0, 1) draws on ``generator``'s device."""
    return torch.rand(*shape, generator=generator, device=generator.device)


def random_subsets(generator: torch.Generator, n: int, pool: int, k: int) -> torch.Tensor:
    """(n, k) long: for each row, k distinct indices drawn uniformly from range(pool)."""
    # argsort of i.i.d. uniforms is a uniform random permutation; keep its first k entries.
    return torch.argsort(rand(generator, n, pool), dim=-1)[:, :k]
