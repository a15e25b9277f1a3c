"""Non-linear function classes of Garg et al. 2022: two-layer ReLU networks and depth-4 trees."""

from __future__ import annotations

import math

import torch

from .base import CURRICULUM_LONG, PromptBatch, Task, check_range, randn


class ReluNN(Task):
    """y = sqrt(2 / h) * W2^T ReLU(W1^T x), W1 (D, h), W2 (h, 1), entries N(0, 1), no biases (spec 2.4).

    E[y^2] = E||x||^2 = D, hence the normaliser D. ``hidden`` defaults to 100 (not the release's 4).
    """

    name = "relu_nn"
    DEFAULT_CURRICULUM = CURRICULUM_LONG
    DEFAULT_EVAL_POINTS = 101

    def __init__(self, n_dims: int = 20, hidden: int = 100):
        super().__init__(n_dims)
        check_range(self.name, "hidden", hidden, 1, None, integer=True)
        self.hidden = hidden

    @property
    def normalizer(self) -> float:
        return float(self.n_dims)

    def sample(self, n_prompts, n_points, generator, n_dims_active=None) -> PromptBatch:
        xs = self._sample_inputs(n_prompts, n_points, generator, n_dims_active)
        w1 = randn(generator, n_prompts, self.n_dims, self.hidden)
        w2 = randn(generator, n_prompts, self.hidden, 1)
        ys = math.sqrt(2.0 / self.hidden) * (torch.relu(xs @ w1) @ w2).squeeze(-1)  # (B, P)
        return PromptBatch(xs, ys)


def tree_predict(xs: torch.Tensor, split_dims: torch.Tensor, leaves: torch.Tensor) -> torch.Tensor:
    """Route every input through its prompt's full binary tree, vectorised over batch and points.

    xs: (B, P, D); split_dims: (B, 2^depth - 1) long, the coordinate each internal node tests;
    leaves: (B, 2^depth) leaf values. Node n goes right to 2n+2 if x[c] > 0, else left to 2n+1
    (threshold 0), so a zeroed (inactive) coordinate always sends left. Returns (B, P).
    """
    n_internal = split_dims.shape[1]
    depth = int(round(math.log2(n_internal + 1)))
    node = torch.zeros(xs.shape[:2], dtype=torch.long, device=xs.device)  # (B, P) current node
    for _ in range(depth):  # a loop over levels, not over prompts
        coord = torch.gather(split_dims, 1, node)  # (B, P) coordinate tested at each input's node
        value = torch.gather(xs, 2, coord[..., None]).squeeze(-1)  # (B, P)
        node = 2 * node + 1 + (value > 0).long()
    return torch.gather(leaves, 1, node - n_internal)


class DecisionTree(Task):
    """Full binary tree of depth 4: 15 internal nodes with a uniform split coordinate (repeats and
    curriculum-zeroed coordinates allowed), threshold 0, 16 leaves N(0, 1); E[y^2] = 1 (spec 2.5).
    """

    name = "decision_tree"
    DEFAULT_CURRICULUM = CURRICULUM_LONG
    DEFAULT_EVAL_POINTS = 101

    def __init__(self, n_dims: int = 20, depth: int = 4):
        super().__init__(n_dims)
        check_range(self.name, "depth", depth, 1, 16, integer=True)
        self.depth = depth

    @property
    def normalizer(self) -> float:
        return 1.0

    def sample(self, n_prompts, n_points, generator, n_dims_active=None) -> PromptBatch:
        xs = self._sample_inputs(n_prompts, n_points, generator, n_dims_active)
        n_internal = 2 ** self.depth - 1
        # Split coordinates over all D (spec 2.5), not only the active ones.
        split_dims = torch.randint(0, self.n_dims, (n_prompts, n_internal), generator=generator,
                                   device=generator.device)
        leaves = randn(generator, n_prompts, n_internal + 1)
        ys = tree_predict(xs, split_dims, leaves)
        return PromptBatch(xs, ys, extra={"split_dims": split_dims, "leaves": leaves})
