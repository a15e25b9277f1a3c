"""Park et al.'s hybrids of attention and Mamba blocks (spec 3.6-3.8).

Both live in the shared pre-norm residual stack with LayerNorm and no MLP:
- Standard Hybrid ("standard_hybrid"): n_layer blocks A, M, A, M, ... (attention at even indices) and a learned
  absolute positional embedding added to the input embeddings;
- MambaFormer ("mambaformer"): one Mamba block first, then A, M, A, M, ...: n_layer + 1 blocks, no PE.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import Backbone
from .blocks import ResidualStack
from .mamba import MambaMixer


class CausalSelfAttention(nn.Module):
    """nanoGPT-style causal self-attention (spec 3.6): fused QKV with bias, output projection with bias,
    causal scaled-dot-product attention, dropout 0. (b, L, d) -> (b, L, d)."""

    def __init__(self, d_model: int, n_head: int = 8):
        super().__init__()
        if d_model % n_head:
            raise ValueError(f"attention: d_model {d_model} is not divisible by n_head {n_head}")
        self.d_model, self.n_head = d_model, n_head
        self.c_attn = nn.Linear(d_model, 3 * d_model, bias=True)
        self.c_proj = nn.Linear(d_model, d_model, bias=True)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator, n_layer: int = 1) -> None:
        """Park's ``MixerModel`` init: PyTorch's default Linear weights, zero biases, no output rescale."""
        del n_layer  # unlike Mamba's out_proj, c_proj is not rescaled (spec 3.6)
        for lin in (self.c_attn, self.c_proj):
            nn.init.kaiming_uniform_(lin.weight, a=math.sqrt(5), generator=generator)
            lin.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, L, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=-1)
        # (b, L, d) -> (b, heads, L, d / heads)
        q, k, v = (t.view(b, L, self.n_head, d // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(b, L, d))


class _HybridBackbone(Backbone):
    """A ResidualStack over a given pattern of 'A' (attention) and 'M' (Mamba) blocks, optional learned PE."""

    def __init__(self, pattern: str, d_model: int, n_layer: int, n_head: int, norm: str, max_tokens: int | None,
                 residual_in_fp32: bool, d_state: int, d_conv: int, expand: int):
        super().__init__()
        self.d_model, self.n_layer, self.pattern = d_model, n_layer, pattern
        mixers = [CausalSelfAttention(d_model, n_head) if c == "A"
                  else MambaMixer(d_model, d_state=d_state, d_conv=d_conv, expand=expand) for c in pattern]
        self.stack = ResidualStack(mixers, d_model, norm=norm, residual_in_fp32=residual_in_fp32)
        self.max_tokens = max_tokens
        self.wpe = nn.Embedding(max_tokens, d_model) if max_tokens is not None else None

    def reset_parameters(self, generator: torch.Generator) -> None:
        # Park's MixerModel passes its configured n_layer to the out_proj rescale, whatever the block count.
        for mixer in self.stack.mixers:
            mixer.reset_parameters(generator, n_layer=self.n_layer)
        self.stack.reset_norms()
        if self.wpe is not None:
            with torch.no_grad():
                self.wpe.weight.normal_(0.0, 0.02, generator=generator)  # mamba-ssm's Embedding init

    def forward(self, embeds: torch.Tensor, output_hidden_states: bool = False):
        if self.wpe is not None:
            L = embeds.shape[1]
            if L > self.max_tokens:
                raise ValueError(f"{type(self).__name__} with a learned PE reads at most {self.max_tokens} tokens, "
                                 f"got {L}")
            embeds = embeds + self.wpe.weight[:L]
        return self.stack(embeds, output_hidden_states=output_hidden_states)

    def final_norm(self, h: torch.Tensor) -> torch.Tensor:
        return self.stack.final_norm(h)


class StandardHybrid(_HybridBackbone):
    """Spec 3.7: n_layer blocks alternating attention (even indices) and Mamba, learned absolute PE of
    ``max_tokens`` rows (size it from the longest sequence, defect D7)."""

    def __init__(self, d_model: int, n_layer: int, n_head: int = 8, max_tokens: int = 2048, norm: str = "layer",
                 residual_in_fp32: bool = False, d_state: int = 16, d_conv: int = 4, expand: int = 2):
        pattern = "".join("A" if i % 2 == 0 else "M" for i in range(n_layer))
        super().__init__(pattern, d_model, n_layer, n_head, norm, max_tokens, residual_in_fp32, d_state, d_conv,
                         expand)


class MambaFormer(_HybridBackbone):
    """Spec 3.8: Mamba, then n_layer blocks alternating attention and Mamba (n_layer + 1 blocks), no PE."""

    def __init__(self, d_model: int, n_layer: int, n_head: int = 8, norm: str = "layer",
                 residual_in_fp32: bool = False, d_state: int = 16, d_conv: int = 4, expand: int = 2):
        pattern = "M" + "".join("A" if i % 2 == 0 else "M" for i in range(n_layer))
        super().__init__(pattern, d_model, n_layer, n_head, norm, None, residual_in_fp32, d_state, d_conv, expand)


def _common(spec: dict) -> dict:
    return dict(d_model=spec["d_model"], n_layer=spec["n_layer"], n_head=spec.get("n_head", 8),
                norm=spec.get("norm", "layer"), residual_in_fp32=spec.get("residual_in_fp32", False),
                d_state=spec.get("d_state", 16), d_conv=spec.get("d_conv", 4), expand=spec.get("expand", 2))


def build_standard_hybrid(spec: dict) -> StandardHybrid:
    """Registry builder ("standard_hybrid"): d_model, n_layer; optional n_head (8, Park's hard-coded value),
    max_tokens (2048: PE rows), norm ("layer"), residual_in_fp32 (False), d_state, d_conv, expand."""
    return StandardHybrid(max_tokens=spec.get("max_tokens", 2048), **_common(spec))


def build_mambaformer(spec: dict) -> MambaFormer:
    """Registry builder ("mambaformer"): d_model, n_layer (n_layer + 1 blocks); optional n_head (8), norm
    ("layer"), residual_in_fp32 (False), d_state, d_conv, expand."""
    return MambaFormer(**_common(spec))
