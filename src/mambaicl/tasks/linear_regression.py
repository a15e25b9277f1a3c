"""The linear-regression family (Garg et al. 2022; Grazzi et al. 2024).

- ``linear_regression``: y = x^T w, w ~ N(0, I), x ~ N(0, I).
- ``skewed_linear_regression``: x = z S with a skewed covariance (spec 2.2).
- ``sparse_linear_regression``: w has k non-zeros among the active coordinates (spec 2.3).
- ``noisy_linear_regression``: evaluation only, y + N(0, sigma^2) rescaled per batch (spec 2.6).
- ``quadratic_regression``: optional, y = sum_j x_j^2 w_j / sqrt(3) (spec 2.6).
"""

from __future__ import annotations

import math

import torch

from .base import PromptBatch, Task, check_choice, check_range, randn, random_subsets


class LinearRegression(Task):
    name = "linear_regression"

    @property
    def normalizer(self) -> float:
        return float(self.n_dims)  # E[y^2] = E[||w||^2] = n_dims

    def sample(self, n_prompts, n_points, generator, n_dims_active=None) -> PromptBatch:
        xs = self._sample_inputs(n_prompts, n_points, generator, n_dims_active)
        # Drawn over all coordinates; the zeroed ones simply contribute nothing.
        w = randn(generator, n_prompts, self.n_dims, 1)
        ys = (xs @ w).squeeze(-1)  # (B, P)
        return PromptBatch(xs, ys)


# --- skewed covariance -------------------------------------------------------------------------

def random_rotation(generator: torch.Generator, *batch: int, n_dims: int, method: str | None = None) -> torch.Tensor:
    """(*batch, D, D) random orthogonal matrices, Haar-distributed up to column signs (spec 2.2).

    On CPU: the U of the SVD of a Gaussian matrix, in float64 so the result is stable (the release's draw).
    On a GPU: the Q of the same Gaussian matrix's QR decomposition. A float64 SVD there is an iterative
    cuSOLVER call with a host sync every step; Householder QR is a few kernels and no sync. Both U and Q are
    Haar up to the signs of their columns, and the covariance transform U diag(lambda) U^T does not see
    column signs, so the skewed inputs have the same distribution either way (the GPU draws differ from the
    CPU's anyway: its generator is another stream). ``method``: "svd" or "qr" (None: by the generator's device).
    """
    g = randn(generator, *batch, n_dims, n_dims, dtype=torch.float64)
    method = method or ("qr" if g.is_cuda else "svd")
    check_choice("random_rotation", "method", method, ("svd", "qr"))
    if method == "qr":
        return torch.linalg.qr(g).Q
    u, _, _ = torch.linalg.svd(g)
    return u


def covariance_transform(u: torch.Tensor, eigenvalues: torch.Tensor) -> torch.Tensor:
    """S = c U diag(lambda) U^T with c = sqrt(D / sum lambda^2), so that x = z S has tr Cov(x) = D.

    u: (..., D, D); eigenvalues: (D,). Returns (..., D, D) float32.
    """
    d = eigenvalues.shape[0]
    lam = eigenvalues.to(u)
    c = math.sqrt(d / float((lam ** 2).sum()))
    return (c * (u * lam) @ u.transpose(-1, -2)).float()  # (u * lam) == u @ diag(lam)


def skewed_eigenvalues(n_dims: int, exponent: float = 1.0) -> torch.Tensor:
    """lambda_i = 1 / (i + 1)^exponent, i = 0 .. D-1 (Grazzi's skewed sampler)."""
    return 1.0 / torch.arange(1, n_dims + 1, dtype=torch.float64) ** exponent


class SkewedLinearRegression(LinearRegression):
    """LR with skewed inputs x = z S, S = c U diag(1/(i+1)) U^T, tr Cov(x) = D (spec 2.2).

    rotation: which U the prompts share.
      - ``per_batch`` (training default, as released): one fresh U per ``sample`` call;
      - ``per_prompt``: a fresh U for every prompt;
      - ``fixed``: one U drawn on CPU from ``rotation_seed``, identical on every device. The
        in-distribution evaluation set uses this (see ``eval_overrides``).
    Inactive curriculum coordinates are zeroed after the transform (spec 1.7).
    """

    name = "skewed_linear_regression"
    ROTATIONS = ("per_batch", "per_prompt", "fixed")

    def __init__(self, n_dims: int = 20, rotation: str = "per_batch", rotation_seed: int = 0,
                 exponent: float = 1.0):
        super().__init__(n_dims)
        check_choice(self.name, "rotation", rotation, self.ROTATIONS)
        check_range(self.name, "rotation_seed", rotation_seed, 0, None, integer=True)
        check_range(self.name, "exponent", exponent, 0.0, None)
        self.rotation, self.rotation_seed, self.exponent = rotation, rotation_seed, exponent
        self._eigen = skewed_eigenvalues(n_dims, exponent)
        self._fixed: torch.Tensor | None = None  # (D, D) S for rotation == "fixed", built lazily on CPU

    def eval_overrides(self) -> dict:
        return {"rotation": "fixed"}

    def transform(self, generator: torch.Generator, n_prompts: int) -> torch.Tensor:
        """(D, D) or (B, D, D) matrix S for this draw, on the generator's device."""
        if self.rotation == "fixed":
            if self._fixed is None:
                g = torch.Generator().manual_seed(self.rotation_seed)
                self._fixed = covariance_transform(random_rotation(g, n_dims=self.n_dims), self._eigen)
            return self._fixed.to(generator.device)
        batch = (n_prompts,) if self.rotation == "per_prompt" else ()
        return covariance_transform(random_rotation(generator, *batch, n_dims=self.n_dims), self._eigen)

    def sample(self, n_prompts, n_points, generator, n_dims_active=None) -> PromptBatch:
        self._check_sample_args(n_prompts, n_points, n_dims_active)
        z = randn(generator, n_prompts, n_points, self.n_dims)
        s = self.transform(generator, n_prompts)
        xs = self._zero_inactive(z @ s, n_dims_active)  # (B, P, D); zeroing after the transform
        w = randn(generator, n_prompts, self.n_dims, 1)
        return PromptBatch(xs, (xs @ w).squeeze(-1))


# --- sparse ------------------------------------------------------------------------------------

class SparseLinearRegression(LinearRegression):
    """w ~ N(0, I) with all but ``sparsity`` coordinates zeroed (spec 2.3).

    The support is drawn uniformly without replacement among the *active* coordinates; E[y^2] = k.
    """

    name = "sparse_linear_regression"

    def __init__(self, n_dims: int = 20, sparsity: int = 3):
        super().__init__(n_dims)
        check_range(self.name, "sparsity", sparsity, 1, n_dims, integer=True)
        self.sparsity = sparsity

    @property
    def normalizer(self) -> float:
        return float(self.sparsity)

    def sample(self, n_prompts, n_points, generator, n_dims_active=None) -> PromptBatch:
        active = self._check_sample_args(n_prompts, n_points, n_dims_active)
        if self.sparsity > active:
            raise ValueError(f"{self.name}: sparsity {self.sparsity} exceeds n_dims_active {active}; "
                             "sparsity must be in [1, n_dims_active]")
        xs = self._sample_inputs(n_prompts, n_points, generator, n_dims_active)
        w = randn(generator, n_prompts, self.n_dims)
        support = random_subsets(generator, n_prompts, active, self.sparsity)  # (B, k)
        keep = torch.zeros_like(w, dtype=torch.bool).scatter_(1, support, True)
        w = (w * keep)[..., None]  # (B, D, 1)
        return PromptBatch(xs, (xs @ w).squeeze(-1), extra={"w": w.squeeze(-1)})


# --- evaluation-only and optional generators ---------------------------------------------------

class NoisyLinearRegression(LinearRegression):
    """Evaluation only (Garg's OOD ``noisyLR``): y = x^T w + N(0, noise_std^2), then, if
    ``renormalize``, y *= sqrt(D) / std(y) with the std over the *whole batch* (spec 2.6).

    The rescale couples the prompts of one ``sample`` call: a prompt set drawn in chunks of 64 is
    rescaled per chunk, as in the release (one evaluation batch per call).
    """

    name = "noisy_linear_regression"
    eval_only = True

    def __init__(self, n_dims: int = 20, noise_std: float = 1.0, renormalize: bool = True):
        super().__init__(n_dims)
        check_range(self.name, "noise_std", noise_std, 0.0, None)
        check_choice(self.name, "renormalize", renormalize, (True, False))
        self.noise_std, self.renormalize = float(noise_std), renormalize

    def sample(self, n_prompts, n_points, generator, n_dims_active=None) -> PromptBatch:
        if self.renormalize and n_prompts * n_points < 2:
            raise ValueError(f"{self.name}: n_prompts * n_points must be >= 2 to take the batch std "
                             "(renormalize=True)")
        batch = super().sample(n_prompts, n_points, generator, n_dims_active)
        ys = batch.ys + self.noise_std * randn(generator, *batch.ys.shape)
        if self.renormalize:
            ys = ys * math.sqrt(self.n_dims) / ys.std()
        return PromptBatch(batch.xs, ys)


class QuadraticRegression(LinearRegression):
    """Optional, evaluation only in the papers: y = sum_j x_j^2 w_j / sqrt(3), so E[y^2] = D."""

    name = "quadratic_regression"

    def sample(self, n_prompts, n_points, generator, n_dims_active=None) -> PromptBatch:
        xs = self._sample_inputs(n_prompts, n_points, generator, n_dims_active)
        w = randn(generator, n_prompts, self.n_dims, 1)
        return PromptBatch(xs, ((xs ** 2) @ w).squeeze(-1) / math.sqrt(3.0))
