"""The pre-norm residual stack shared by Mamba, S4 (Park), the hybrids and RWKV.

Per block (mamba-ssm's ``Block`` semantics):  residual <- residual + hidden;  hidden <- mixer(norm(residual)).
At the end: final_norm(residual + hidden). There is no MLP unless a mixer brings one.
"""

from __future__ import annotations

import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))
        self.fused = False  # one-kernel F.rms_norm, switched on for CUDA by models.fused_ops

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused and x.dtype == self.weight.dtype:  # mixed dtypes keep the promoting elementwise form
            return torch.nn.functional.rms_norm(x, (x.shape[-1],), self.weight, self.eps)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)


def make_norm(kind: str, d: int, eps: float = 1e-5) -> nn.Module:
    if kind == "rms":
        return RMSNorm(d, eps)
    if kind == "layer":
        return nn.LayerNorm(d, eps=eps)
    raise ValueError(f"unknown norm '{kind}'; use 'rms' or 'layer'")


class ResidualStack(nn.Module):
    """Mixers in pre-norm residual blocks, then a final norm.

    ``residual_in_fp32`` keeps the residual stream in float32 even under lower-precision compute
    (Grazzi's Mamba does). Mixers map (B, T, d) -> (B, T, d) causally and may define
    ``reset_parameters(generator)``.
    """

    def __init__(self, mixers: list[nn.Module], d_model: int, norm: str = "rms", residual_in_fp32: bool = True,
                 eps: float = 1e-5):
        super().__init__()
        self.mixers = nn.ModuleList(mixers)
        self.norms = nn.ModuleList(make_norm(norm, d_model, eps) for _ in mixers)
        self.norm_f = make_norm(norm, d_model, eps)
        self.residual_in_fp32 = residual_in_fp32

    def reset_norms(self) -> None:
        for n in [*self.norms, self.norm_f]:
            n.reset_parameters()

    def forward(self, x: torch.Tensor, output_hidden_states: bool = False):
        """(B, T, d) -> (B, T, d) after the final norm.

        With ``output_hidden_states`` also returns, per block l, the full residual stream after the
        block (residual_l + hidden_l), before the final norm: ``final_norm`` of it is the logit-lens
        read-out of block l.
        """
        residual, hidden = None, x
        streams = []
        for norm, mixer in zip(self.norms, self.mixers):
            residual = hidden if residual is None else residual + hidden
            if self.residual_in_fp32:
                residual = residual.float()
            hidden = mixer(norm(residual.to(norm_dtype(norm, hidden))))
            if output_hidden_states:
                streams.append(residual + hidden)
        out = self.norm_f((hidden if residual is None else residual + hidden).to(hidden.dtype))
        return (out, streams) if output_hidden_states else out

    def final_norm(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm_f(h)


def norm_dtype(norm: nn.Module, like: torch.Tensor) -> torch.dtype:
    w = getattr(norm, "weight", None)
    return w.dtype if w is not None else like.dtype
