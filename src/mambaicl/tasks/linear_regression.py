"""Noiseless linear regression (Garg et al. 2022): y = x^T w, w ~ N(0, I), x ~ N(0, I)."""

from __future__ import annotations

import torch

from .base import PromptBatch, Task


class LinearRegression(Task):
    name = "linear_regression"

    @property
    def normalizer(self) -> float:
        return float(self.n_dims)  # E[y^2] = E[||w||^2] = n_dims

    def sample(self, n_prompts, n_points, generator, n_dims_active=None) -> PromptBatch:
        xs = self._sample_inputs(n_prompts, n_points, generator, n_dims_active)
        # Drawn over all coordinates; the zeroed ones simply contribute nothing.
        w = torch.randn(n_prompts, self.n_dims, 1, generator=generator, device=generator.device)
        ys = (xs @ w).squeeze(-1)  # (B, P)
        return PromptBatch(xs, ys)
