"""The plain-PyTorch references of mamba-ssm's and causal-conv1d's kernels, and the math they share with the own
scan (``mamba.selective_scan_cpu``): the ground truth the tests compare every implementation with, and the CPU twins
that stand in for the CUDA kernels where those cannot run (the kernels path's tests, ``bench_fusion.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _prepare_delta(delta, delta_bias, delta_softplus):
    if delta_bias is not None:
        delta = delta + delta_bias[..., None]  # delta: (b, d, L); bias: (d,)
    return F.softplus(delta) if delta_softplus else delta


def _gate(y, u, D, z):
    if D is not None:
        y = y + u * D[..., None]
    if z is not None:
        y = y * F.silu(z)
    return y


def _per_channel(B, d):
    """B or C as (b, 1, n, L) (shared by all channels) or, grouped, (b, d, n, L): channel c gets group c // (d / G)."""
    if B.dim() == 3:
        return B[:, None]
    if d % B.shape[1]:
        raise ValueError(f"grouped B/C {tuple(B.shape)}: {B.shape[1]} groups do not divide {d} channels")
    return B.repeat_interleave(d // B.shape[1], dim=1)


def causal_conv1d_ref(x, weight, bias=None, activation=None):
    """causal-conv1d's ``causal_conv1d_fn`` in plain PyTorch (its CPU twin for tests and counts): a depthwise causal
    convolution, x (b, d, L), weight (d, w), bias (d,), then SiLU when ``activation`` is "silu"."""
    d, w = weight.shape
    y = F.conv1d(x, weight[:, None], bias, padding=w - 1, groups=d)[..., :x.shape[-1]]
    return F.silu(y) if activation == "silu" else y


def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """Sequential reference: h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t, y_t = <C_t, h_t> (+ D u_t) (* silu z).

    B, C: (b, N, L), or grouped (b, G, N, L) with channel c reading group c // (d / G) (mamba-ssm's layout).
    Computes in the inputs' promoted dtype (at least float32), so float64 inputs give a float64 reference;
    returns the promoted dtype of u and A (float32 for half-precision u with a float32 A, as the kernel's tests).
    """
    dtype = torch.promote_types(torch.promote_types(u.dtype, A.dtype), torch.float32)
    out_dtype = torch.promote_types(u.dtype, A.dtype)
    u, delta, A, B, C = (t.to(dtype) for t in (u, delta, A, B, C))
    delta = _prepare_delta(delta, None if delta_bias is None else delta_bias.to(dtype), delta_softplus)
    B, C = _per_channel(B, u.shape[1]), _per_channel(C, u.shape[1])  # (b, 1 or d, n, L)
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])  # (b, d, n)
    ys = []
    for t in range(u.shape[2]):
        h = torch.exp(delta[:, :, t, None] * A) * h + (delta[:, :, t] * u[:, :, t])[..., None] * B[..., t]
        ys.append((h * C[..., t]).sum(-1))
    y = torch.stack(ys, dim=-1)  # (b, d, L)
    return _gate(y, u, None if D is None else D.to(dtype), None if z is None else z.to(dtype)).to(out_dtype)
