"""Classical in-context baselines (Garg et al. 2022), batched over prompts.

Each predicts y_i from the first i pairs only (i = 0, ..., P-1); with no examples it predicts 0.
"""

from __future__ import annotations

import torch


def least_squares(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Minimum-norm least squares; (B, P, D), (B, P) -> predictions (B, P).

    Uses the SVD-based pseudo-inverse in float64, which is correct for rank-deficient systems on any
    device (CUDA ``lstsq`` with the default gels driver is not; spec D15).
    """
    xs64, ys64 = xs.double(), ys.double()
    preds = torch.zeros_like(ys64)
    for i in range(1, xs.shape[1]):
        w = torch.linalg.pinv(xs64[:, :i]) @ ys64[:, :i, None]  # (B, D, 1)
        preds[:, i] = (xs64[:, i : i + 1] @ w)[:, 0, 0]
    return preds.to(ys.dtype)


def averaging(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """w_hat = mean_j x_j y_j over the first i pairs; predict x_i^T w_hat."""
    contrib = torch.cumsum(xs * ys[..., None], dim=1)  # (B, P, D) running sums of x_j y_j
    counts = torch.arange(1, xs.shape[1] + 1, device=xs.device, dtype=xs.dtype)[None, :, None]
    w_hat = contrib / counts
    preds = torch.zeros_like(ys)
    preds[:, 1:] = (xs[:, 1:] * w_hat[:, :-1]).sum(-1)
    return preds


BASELINES = {
    "least_squares": least_squares,
    "averaging": averaging,
}

BASELINE_LABELS = {
    "least_squares": "Least squares",
    "averaging": "Averaging",
}
