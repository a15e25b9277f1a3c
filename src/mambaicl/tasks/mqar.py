"""Park et al.'s vector-valued multi-query associative recall (spec 2.10).

Layout (not interleaved): k_1, v_1, ..., k_N, v_N, q: 2N + 1 tokens of width D (N = 64, D = 20).
The model reads a D-vector at the last token only. One query per sequence, so a prompt has a
single "position": ``PromptBatch.xs`` (B, 1, D) is the query q, ``ys`` (B, 1, D) the target
value, and the pairs live in ``extra``:

- ``keys``, ``values`` (B, N, D): N(0, I) draws renormalised to norm sqrt(D);
- ``query_index`` (B,) long: the pair whose key q copies (N under ``query=released`` when the
  query slot points at itself: q is then a fresh random vector); used for the by-position curve;
- ``target_index`` (B,) long: argmax_j <q, k_j> (nearest-key retrieval); the target is its value.
"""

from __future__ import annotations

import math

import torch

from .base import PromptBatch, Task, _schedule, check_choice, check_range, randn


def _unit_norm(v: torch.Tensor, norm: float) -> torch.Tensor:
    return v * (norm / v.norm(dim=-1, keepdim=True).clamp_min(1e-12))


class VectorMQAR(Task):
    """``query``: ``existing_key`` (default; q copies one of the N keys) or ``released`` (the
    query index is uniform in {0, ..., N} inclusive, defect D3). ``query_noise`` sigma > 0 gives the
    ``noisy_query`` evaluation: q + N(0, sigma^2 I), renormalised to norm sqrt(D).

    ``sample``'s ``n_points`` counts queries per sequence and must be 1 (the curriculum and
    ``eval_points`` are 1); the number of pairs is ``n_pairs``.
    Loss: mean over the D coordinates and the batch of (v_hat - v)^2 (torch's MSE). Primary
    ``errors``: squared-norm error ||v_hat - v||^2 (B, 1), normaliser D (zero predictor exactly 1).
    ``extra_metrics``: nearest-value accuracy and the release's key-match error.
    """

    name = "mqar"
    DEFAULT_CURRICULUM = {"dims": _schedule(20, 20), "points": _schedule(1, 1)}  # no curriculum
    DEFAULT_EVAL_POINTS = 1
    QUERIES = ("existing_key", "released")

    def __init__(self, n_dims: int = 20, n_pairs: int = 64, query: str = "existing_key",
                 query_noise: float = 0.0):
        super().__init__(n_dims)
        check_range(self.name, "n_pairs", n_pairs, 1, None, integer=True)
        check_choice(self.name, "query", query, self.QUERIES)
        check_range(self.name, "query_noise", query_noise, 0.0, None)
        self.n_pairs, self.query, self.query_noise = n_pairs, query, float(query_noise)

    @property
    def out_dim(self) -> int:  # a D-vector is read at the last token
        return self.n_dims

    @property
    def normalizer(self) -> float:
        return float(self.n_dims)  # ||v||^2 = D exactly

    @property
    def n_tokens(self) -> int:
        return 2 * self.n_pairs + 1

    def max_points(self, max_tokens: int) -> int:
        return 1 if max_tokens >= self.n_tokens else 0

    def sample(self, n_prompts, n_points, generator, n_dims_active=None) -> PromptBatch:
        self._check_sample_args(n_prompts, n_points, n_dims_active)
        if n_points != 1:
            raise ValueError(f"{self.name}: n_points must be 1 (one query per sequence; the number of "
                             f"key-value pairs is n_pairs = {self.n_pairs}); got {n_points}")
        norm = math.sqrt(self.n_dims)
        kv = randn(generator, n_prompts, 2, self.n_pairs, self.n_dims)
        kv = self._zero_inactive(kv, n_dims_active)
        kv = _unit_norm(kv, norm)
        keys, values = kv[:, 0], kv[:, 1]  # (B, N, D) each
        high = self.n_pairs + (1 if self.query == "released" else 0)
        qi = torch.randint(0, high, (n_prompts,), generator=generator, device=generator.device)
        fresh = _unit_norm(self._zero_inactive(randn(generator, n_prompts, self.n_dims), n_dims_active), norm)
        q = keys[torch.arange(n_prompts, device=keys.device), qi.clamp_max(self.n_pairs - 1)]
        q = torch.where((qi == self.n_pairs)[:, None], fresh, q)  # released: the slot is the query itself
        if self.query_noise > 0:
            noise = self._zero_inactive(randn(generator, n_prompts, self.n_dims), n_dims_active)
            q = _unit_norm(q + self.query_noise * noise, norm)
        target = torch.einsum("bd,bnd->bn", q, keys).argmax(-1)  # (B,) nearest key
        ys = values[torch.arange(n_prompts, device=keys.device), target]
        return PromptBatch(q[:, None, :], ys[:, None, :],
                           extra={"keys": keys, "values": values, "query_index": qi, "target_index": target})

    def tokens(self, batch: PromptBatch) -> torch.Tensor:
        keys, values = batch.extra["keys"], batch.extra["values"]
        b, n, d = keys.shape
        pairs = torch.stack((keys, values), dim=2).reshape(b, 2 * n, d)  # k_1, v_1, k_2, ...
        return torch.cat((pairs, batch.xs[:, :1]), dim=1)  # (B, 2N + 1, D)

    def predictions(self, outputs: torch.Tensor, batch: PromptBatch) -> torch.Tensor:
        return outputs[:, -1:, :]  # (B, 1, D): the read-out at the query token

    def loss(self, preds: torch.Tensor, batch: PromptBatch) -> torch.Tensor:
        return ((preds - batch.ys) ** 2).mean()

    def nearest_value_accuracy(self, preds: torch.Tensor, batch: PromptBatch) -> torch.Tensor:
        """(B, 1): 1 if argmax_j <v_hat, v_j> is the target pair (primary retrieval metric)."""
        guess = torch.einsum("bd,bnd->bn", preds[:, 0], batch.extra["values"]).argmax(-1)
        return (guess == batch.extra["target_index"]).to(preds.dtype)[:, None]

    def key_match_error(self, preds: torch.Tensor, batch: PromptBatch) -> torch.Tensor:
        """(B, 1): the release's "match error" (defect D2): 1 if argmax_j <v_hat, k_j> differs from
        argmax_j <v, k_j>; it projects onto the *keys*, a strict closeness proxy."""
        keys = batch.extra["keys"]
        a = torch.einsum("bd,bnd->bn", preds[:, 0], keys).argmax(-1)
        b = torch.einsum("bd,bnd->bn", batch.ys[:, 0], keys).argmax(-1)
        return (a != b).to(preds.dtype)[:, None]

    def extra_metrics(self, preds: torch.Tensor, batch: PromptBatch) -> dict[str, torch.Tensor]:
        return {"nearest_value_accuracy": self.nearest_value_accuracy(preds, batch),
                "key_match_error": self.key_match_error(preds, batch)}
