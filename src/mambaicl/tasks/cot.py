"""Chain-of-thought I/O (Li et al. 2023 "Dissecting Chain-of-Thought"; Park et al. Table 1).

NOT in either release. This follows the spec's *proposed implementation* (spec 2.11), pending
confirmation against Li et al. and Park et al.'s appendix; every choice below is ours:

- Function: 2-layer ReLU network with hidden state s = sqrt(2/d) ReLU(W1^T x) (W1 (d, h) ~ N(0, 1)),
  y = W2^T s / sqrt(h) (W2 (h,) ~ N(0, 1)); x ~ N(0, I_d). The scalings give E[s_j^2] = 1 and
  E[y^2] = 1, hence the normaliser 1. Defaults d = 10, h = 8.
- ``mode='cot'``: triples x_i, s_i, y_i, i.e. 3 tokens per example, each zero-padded to width
  max(d, h) + 1 (the last coordinate is always 0; the width follows the proposal). The model
  predicts s_i at the x_i-token (first h read-out coordinates) and y_i at the s_i-token (read-out
  coordinate 0); the loss is MSE(s) + MSE(y). ``predictions`` returns (B, P, 1 + h): [y_hat, s_hat].
  ``errors`` is the squared error of y per position with the *true* s in context (teacher forcing);
  ``generated_final_predictions`` does the proper CoT inference for the final query (the model's
  own s_hat fed back) and is what "error on y at the final query" should report.
- ``mode='io'``: the I/O-only contrast: pairs x_i, y_i at the same token width, y read at x-tokens.
"""

from __future__ import annotations

import math

import torch

from .base import PromptBatch, Task, _schedule, check_choice, check_range, randn


class CoTIO(Task):
    name = "cot_io"
    DEFAULT_N_DIMS = 10
    DEFAULT_CURRICULUM = {"dims": _schedule(10, 10), "points": _schedule(11, 41, 2, 2000)}  # proposal
    DEFAULT_EVAL_POINTS = 41
    MODES = ("cot", "io")

    def __init__(self, n_dims: int = 10, hidden: int = 8, mode: str = "cot"):
        super().__init__(n_dims)
        check_range(self.name, "hidden", hidden, 1, None, integer=True)
        check_choice(self.name, "mode", mode, self.MODES)
        self.hidden, self.mode = hidden, mode

    @property
    def token_dim(self) -> int:
        return max(self.n_dims, self.hidden) + 1

    @property
    def out_dim(self) -> int:
        return self.hidden if self.mode == "cot" else 1

    @property
    def normalizer(self) -> float:
        return 1.0  # E[y^2] = 1 by construction

    @property
    def tokens_per_point(self) -> int:
        return 3 if self.mode == "cot" else 2

    def max_points(self, max_tokens: int) -> int:
        return max_tokens // self.tokens_per_point

    def sample(self, n_prompts, n_points, generator, n_dims_active=None) -> PromptBatch:
        xs = self._sample_inputs(n_prompts, n_points, generator, n_dims_active)
        w1 = randn(generator, n_prompts, self.n_dims, self.hidden)
        w2 = randn(generator, n_prompts, self.hidden, 1)
        s = math.sqrt(2.0 / self.n_dims) * torch.relu(xs @ w1)  # (B, P, h)
        ys = (s @ w2).squeeze(-1) / math.sqrt(self.hidden)  # (B, P)
        return PromptBatch(xs, ys, extra={"hidden_per_point": s})

    def _pad(self, t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(t, (0, self.token_dim - t.shape[-1]))

    def tokens(self, batch: PromptBatch) -> torch.Tensor:
        b, p, _ = batch.xs.shape
        parts = [self._pad(batch.xs)]
        if self.mode == "cot":
            parts.append(self._pad(batch.extra["hidden_per_point"]))
        parts.append(self._pad(batch.ys[..., None]))
        return torch.stack(parts, dim=2).reshape(b, len(parts) * p, self.token_dim)

    def predictions(self, outputs: torch.Tensor, batch: PromptBatch) -> torch.Tensor:
        if self.mode == "io":
            return outputs[:, 0::2, 0]
        y_hat = outputs[:, 1::3, :1]  # (B, P, 1) read at s-tokens
        s_hat = outputs[:, 0::3, : self.hidden]  # (B, P, h) read at x-tokens
        return torch.cat((y_hat, s_hat), dim=-1)

    def loss(self, preds: torch.Tensor, batch: PromptBatch) -> torch.Tensor:
        if self.mode == "io":
            return ((preds - batch.ys) ** 2).mean()
        y_loss = ((preds[..., 0] - batch.ys) ** 2).mean()
        s_loss = ((preds[..., 1:] - batch.extra["hidden_per_point"]) ** 2).mean()
        return y_loss + s_loss

    def errors(self, preds: torch.Tensor, batch: PromptBatch) -> torch.Tensor:
        y_hat = preds[..., 0] if preds.dim() == 3 else preds  # baselines return (B, P)
        se = (y_hat - batch.ys) ** 2
        if batch.mask is not None:
            se = se.masked_fill(~batch.mask, float("nan"))
        return se

    @torch.no_grad()
    def generated_final_predictions(self, model, batch: PromptBatch) -> torch.Tensor:
        """(B,) y_hat for the last query with the model's own s_hat in place of the true s."""
        if self.mode == "io":
            return model.predict(self, batch)[:, -1]
        tokens = self.tokens(batch)
        s_hat = model(tokens)[:, -3, : self.hidden]  # read at the final x-token
        tokens = tokens.clone()
        tokens[:, -2] = self._pad(s_hat)  # the final s-token
        return model(tokens)[:, -2, 0]
