"""One interface for every backbone: prompt tokens in, a scalar prediction per x-token out."""

from __future__ import annotations

import math

import torch
from torch import nn


class Backbone(nn.Module):
    """A causal sequence model on embeddings: (B, T, d_model) -> (B, T, d_model), final norm applied.

    Contract for every backbone:
    - ``forward(embeds, output_hidden_states=False)``; with the flag it returns ``(out, streams)``,
      ``streams[l]`` the residual stream after block l before the final norm (for probing);
    - ``final_norm(h)`` applies the final norm, so ``final_norm(streams[-1])`` equals ``out``;
    - ``reset_parameters(generator)`` initialises every parameter from ``generator`` alone;
    - ``max_tokens``: the longest sequence it supports (None: unlimited, e.g. no positional table);
    - ``d_model``; ``effective_parameters()`` counts trainable parameters that receive gradients.
    """

    d_model: int
    max_tokens: int | None = None

    def reset_parameters(self, generator: torch.Generator) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def effective_parameters(self) -> int:
        """Trainable parameters that receive gradients (spec 3.10)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def init_linear_default_(layer: nn.Linear, generator: torch.Generator) -> None:
    """PyTorch's default Linear init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from ``generator``."""
    bound = 1.0 / math.sqrt(layer.in_features)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        if layer.bias is not None:
            layer.bias.uniform_(-bound, bound, generator=generator)


class ICLModel(nn.Module):
    """Read-in Linear(token_dim -> d_model), a backbone, read-out Linear(d_model -> out_dim).

    The task decides the token layout and which outputs are predictions (``Task.tokens`` and
    ``Task.predictions``); ``predict`` runs the whole chain for one batch.
    """

    def __init__(self, backbone: Backbone, token_dim: int, out_dim: int = 1):
        super().__init__()
        self.token_dim = token_dim
        self.read_in = nn.Linear(token_dim, backbone.d_model)
        self.backbone = backbone
        self.read_out = nn.Linear(backbone.d_model, out_dim)

    @property
    def max_tokens(self) -> int | None:
        """Longest token sequence the backbone can read (None: unlimited)."""
        return self.backbone.max_tokens

    def reset_parameters(self, generator: torch.Generator) -> None:
        init_linear_default_(self.read_in, generator)
        self.backbone.reset_parameters(generator)
        init_linear_default_(self.read_out, generator)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T, token_dim) -> (B, T, out_dim); output t depends on tokens <= t only."""
        return self.read_out(self.backbone(self.read_in(tokens)))

    def predict(self, task, batch) -> torch.Tensor:
        """Predictions for a ``PromptBatch`` of ``task``, aligned with ``batch.ys``."""
        return task.predictions(self(task.tokens(batch)), batch)

    def effective_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad) - self._unused_parameters()

    def _unused_parameters(self) -> int:
        return getattr(self.backbone, "unused_parameters", lambda: 0)()


def set_dropout_generator(model: nn.Module, generator: torch.Generator) -> int:
    """Make every stochastic module of ``model`` draw its masks from ``generator``; returns their count.

    Dropout modules that draw random masks mark themselves with ``uses_dropout_generator = True``
    and read ``self.generator``: the trainer owns one generator and checkpoints its state.
    """
    modules = [m for m in model.modules() if getattr(m, "uses_dropout_generator", False)]
    for m in modules:
        m.generator = generator
    return len(modules)
