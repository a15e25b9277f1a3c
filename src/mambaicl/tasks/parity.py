"""In-context sparse parity (Bhattamishra et al. 2023; Park et al.; spec 2.9).

x uniform on {-1, +1}^n, y = prod_{j in S} x_j with |S| = k. Interleaved tokens (y, 0, ..., 0),
scalar read-out at x-tokens; trained with BCE on sigmoid(pred) against (y + 1) / 2, scored by
accuracy per position (chance 0.5).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import PromptBatch, Task, _schedule, check_choice, check_range, rand, random_subsets


def parity_accuracy(preds: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """1 where sign(pred) = y, 0 where it differs, 0.5 where pred == 0 exactly.

    A zero prediction carries no information (e.g. a baseline with no examples); scoring it 0.5,
    its expected accuracy under a random tie-break, keeps "chance" at 0.5.
    """
    correct = (torch.sign(preds) == torch.sign(ys)).to(preds.dtype)
    return torch.where(preds == 0, torch.full_like(correct, 0.5), correct)


class SparseParity(Task):
    """``support``: ``per_prompt`` (default, an independent S per prompt) or ``per_batch`` (one S
    shared by every prompt of a ``sample`` call; release defect D4). With ``n_dims_active`` < n
    the inactive coordinates are 0 and S is drawn among the active ones."""

    name = "sparse_parity"
    metric = "accuracy"
    higher_is_better = True
    DEFAULT_N_DIMS = 10
    DEFAULT_CURRICULUM = {"dims": _schedule(10, 10), "points": _schedule(140, 140)}  # no curriculum
    DEFAULT_EVAL_POINTS = 140
    SUPPORTS = ("per_prompt", "per_batch")

    def __init__(self, n_dims: int = 10, k: int = 2, support: str = "per_prompt"):
        super().__init__(n_dims)
        check_range(self.name, "k", k, 1, n_dims, integer=True)
        check_choice(self.name, "support", support, self.SUPPORTS)
        self.k, self.support = k, support

    @property
    def normalizer(self) -> float:
        return 1.0  # accuracies are not normalised; chance is 0.5

    def sample(self, n_prompts, n_points, generator, n_dims_active=None) -> PromptBatch:
        active = self._check_sample_args(n_prompts, n_points, n_dims_active)
        if self.k > active:
            raise ValueError(f"{self.name}: k = {self.k} exceeds n_dims_active = {active}; k must be in "
                             "[1, n_dims_active]")
        xs = (rand(generator, n_prompts, n_points, self.n_dims) < 0.5).float() * 2.0 - 1.0
        xs = self._zero_inactive(xs, n_dims_active)
        n_supports = n_prompts if self.support == "per_prompt" else 1
        support = random_subsets(generator, n_supports, active, self.k).expand(n_prompts, self.k)  # (B, k)
        chosen = torch.gather(xs, 2, support[:, None, :].expand(n_prompts, n_points, self.k))
        ys = chosen.prod(-1)  # (B, P) in {-1, +1}
        return PromptBatch(xs, ys, extra={"support": support.contiguous()})

    def loss(self, preds: torch.Tensor, batch: PromptBatch) -> torch.Tensor:
        """BCE of sigmoid(pred) against (y + 1) / 2, averaged over batch and positions."""
        return F.binary_cross_entropy_with_logits(preds, (batch.ys + 1.0) / 2.0)

    def errors(self, preds: torch.Tensor, batch: PromptBatch) -> torch.Tensor:
        """(B, P) accuracy per position (see ``parity_accuracy``); higher is better."""
        acc = parity_accuracy(preds, batch.ys)
        if batch.mask is not None:
            acc = acc.masked_fill(~batch.mask, float("nan"))
        return acc
