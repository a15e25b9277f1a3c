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


class DropoutAhead:
    """Draws the dropout masks of ``model``'s stochastic modules before each step, in the order its forward calls
    them (found once, by hooks on a forward of a 2-token example in eval mode), into each module's ``drawn`` buffer
    that its forward then reads (``s4.ChannelDropout.draw_ahead``): a compiled step (``train.compile``) then holds
    no generator draw, which would break its graph at every such module. Each generator advances by exactly the
    draws of the eager forward, in the same order, so the masks and the checkpointed generator states are the same.
    ``close`` gives the modules back their in-forward draws."""

    def __init__(self, model: "ICLModel", device: torch.device | str):
        self.device = torch.device(device)
        modules = [m for m in model.modules() if getattr(m, "uses_dropout_generator", False)]
        calls: list[tuple[nn.Module, int]] = []  # (module, channels of its input)
        self.calls = calls
        if not modules:  # nothing to draw: no forward needed
            return
        hooks = [m.register_forward_pre_hook(lambda m, args: calls.append((m, args[0].shape[-1]))) for m in modules]
        was_training = model.training
        try:
            model.eval()  # the modules draw nothing in eval mode; the hooks see every call
            with torch.no_grad():
                model(torch.zeros(1, 2, model.token_dim, device=self.device))
        finally:
            for hook in hooks:
                hook.remove()
            model.train(was_training)
        if len({id(m) for m, _ in calls}) != len(calls):
            raise RuntimeError("a dropout module runs more than once per forward: its masks cannot be drawn ahead")

    def __bool__(self) -> bool:
        return any(m.p > 0 for m, _ in self.calls)

    def __call__(self, batch_size: int) -> None:
        for module, channels in self.calls:
            module.draw_ahead(batch_size, channels, self.device)

    def close(self) -> None:
        for module, _ in self.calls:
            module.drawn = None
