"""The interleaved token layout shared by every regression-style task (Garg et al. 2022)."""

from __future__ import annotations

import torch


def interleave(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """(B, P, D) inputs and (B, P) targets -> (B, 2P, D) tokens x_1, y_1, x_2, y_2, ...

    Each y is zero-padded to a D-vector (y, 0, ..., 0); no token-type embedding is added.
    """
    b, p, d = xs.shape
    y_tokens = torch.zeros_like(xs)
    y_tokens[..., 0] = ys
    return torch.stack((xs, y_tokens), dim=2).reshape(b, 2 * p, d)


def x_positions(tokens_out: torch.Tensor) -> torch.Tensor:
    """Keep the outputs at x-tokens (indices 0, 2, 4, ...): output i predicts y_i from i-1 examples."""
    return tokens_out[:, ::2]
