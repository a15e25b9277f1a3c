"""What every synthetic task provides.

A task owns its whole contract with the models: how prompts are sampled (seeded), how they become a
token sequence, which model outputs are predictions, the training loss and the evaluation metric.
The defaults implement the interleaved regression layout of Garg et al. 2022; tasks with another
layout (parity, MQAR, chain-of-thought) override the relevant methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import torch

from ..prompts import interleave, x_positions


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
        """Keep the first ``n_points`` pairs of every prompt."""
        return PromptBatch(self.xs[:, :n_points], self.ys[:, :n_points],
                           None if self.mask is None else self.mask[:, :n_points], dict(self.extra))

    def __len__(self) -> int:
        return self.xs.shape[0]


class Task(ABC):
    """A function class. Each prompt gets its own freshly drawn function."""

    name: str = ""
    out_dim: int = 1  # width of the model's read-out
    metric: str = "squared_error"  # what ``errors`` returns per position
    higher_is_better: bool = False

    def __init__(self, n_dims: int):
        if n_dims < 1:
            raise ValueError(f"{self.name}: n_dims must be >= 1, got {n_dims}")
        self.n_dims = n_dims

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
        return (se * m).sum() / m.sum().clamp_min(1.0)

    def errors(self, preds: torch.Tensor, batch: PromptBatch) -> torch.Tensor:
        """(B, P) per-position metric, NaN where the mask excludes a position."""
        se = (preds - batch.ys) ** 2
        if se.dim() == 3:
            se = se.sum(-1)
        if batch.mask is not None:
            se = se.masked_fill(~batch.mask, float("nan"))
        return se

    def _sample_inputs(
        self, n_prompts: int, n_points: int, generator: torch.Generator, n_dims_active: int | None
    ) -> torch.Tensor:
        """Isotropic Gaussian inputs with the curriculum's inactive coordinates set to zero."""
        xs = torch.randn(n_prompts, n_points, self.n_dims, generator=generator, device=generator.device)
        return self._zero_inactive(xs, n_dims_active)

    def _zero_inactive(self, xs: torch.Tensor, n_dims_active: int | None) -> torch.Tensor:
        active = self.n_dims if n_dims_active is None else n_dims_active
        if not 1 <= active <= self.n_dims:
            raise ValueError(f"{self.name}: active dimensions must be in [1, {self.n_dims}], got {active}")
        if active < self.n_dims:
            xs[..., active:] = 0.0
        return xs
