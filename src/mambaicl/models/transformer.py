"""GPT-2 backbone (Hugging Face ``GPT2Model`` fed through ``inputs_embeds``).

Positional information: ``learned`` absolute embeddings (Garg, Park) or ``none`` (Grazzi: only the
causal mask orders tokens, which lets the model run on prompts longer than it was trained on).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from .base import Backbone


class _NoPositionEmbedding(nn.Module):
    """Stands in for GPT-2's ``wpe`` table: adds nothing and holds no parameters."""

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        return torch.zeros((), dtype=torch.get_default_dtype(), device=position_ids.device)


class GPT2Backbone(Backbone):
    def __init__(
        self,
        d_model: int,
        n_layer: int,
        n_head: int,
        positional_encoding: str = "none",
        max_tokens: int = 2048,
    ):
        super().__init__()
        if d_model % n_head:
            raise ValueError(f"gpt2: d_model {d_model} is not divisible by n_head {n_head}")
        if positional_encoding not in ("none", "learned"):
            raise ValueError(f"gpt2: positional_encoding must be 'none' or 'learned', got {positional_encoding!r}")
        self.d_model = d_model
        self.n_layer = n_layer
        self.positional_encoding = positional_encoding
        # Imported here: transformers takes seconds to import, and most jobs never build a GPT-2.
        from transformers import GPT2Config, GPT2Model

        cfg = GPT2Config(
            vocab_size=1,  # the token table is never used (inputs arrive as embeddings); keep it tiny
            n_positions=max_tokens,
            n_embd=d_model,
            n_layer=n_layer,
            n_head=n_head,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            use_cache=False,
            bos_token_id=None,
            eos_token_id=None,
        )
        self.gpt2 = GPT2Model(cfg)
        self.gpt2.wte.weight.requires_grad_(False)
        if positional_encoding == "none":
            self.gpt2.wpe = _NoPositionEmbedding()
            self.max_tokens = None
        else:
            self.max_tokens = max_tokens

    def unused_parameters(self) -> int:
        return 0  # the 1-row token table is frozen, so it is already excluded from the count

    def reset_parameters(self, generator: torch.Generator) -> None:
        """GPT-2's initialisation (normal, std 0.02; residual projections / sqrt(2 n_layer))."""
        std = 0.02
        with torch.no_grad():
            for name, module in self.gpt2.named_modules():
                if isinstance(module, nn.LayerNorm):
                    module.weight.fill_(1.0)
                    module.bias.zero_()
                elif isinstance(module, nn.Embedding):
                    module.weight.normal_(0.0, std, generator=generator)
                elif hasattr(module, "weight") and module.weight is not None and module.weight.dim() == 2:
                    s = std / math.sqrt(2 * self.n_layer) if name.endswith("c_proj") else std
                    module.weight.normal_(0.0, s, generator=generator)
                    if getattr(module, "bias", None) is not None:
                        module.bias.zero_()

    def forward(self, embeds: torch.Tensor, output_hidden_states: bool = False):
        if self.max_tokens is not None and embeds.shape[1] > self.max_tokens:
            raise ValueError(
                f"gpt2 with learned positions reads at most {self.max_tokens} tokens, got {embeds.shape[1]}"
            )
        if not output_hidden_states:
            return self.gpt2(inputs_embeds=embeds, use_cache=False).last_hidden_state
        # Collect each block's output with hooks: HF's hidden_states tuple applies ln_f to its last entry.
        streams: list[torch.Tensor] = []
        hooks = [blk.register_forward_hook(lambda _m, _i, out: streams.append(out[0] if isinstance(out, tuple) else out))
                 for blk in self.gpt2.h]
        try:
            out = self.gpt2(inputs_embeds=embeds, use_cache=False).last_hidden_state
        finally:
            for hk in hooks:
                hk.remove()
        return out, streams

    def final_norm(self, h: torch.Tensor) -> torch.Tensor:
        return self.gpt2.ln_f(h)
