"""Per-position means with bootstrap confidence intervals, for one seed or averaged over seeds."""

from __future__ import annotations

import numpy as np


def bootstrap_mean_ci(
    errors: list[np.ndarray] | np.ndarray, n_resamples: int, ci: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over prompts (averaged over seeds) and a percentile bootstrap interval per position.

    ``errors`` is one (N, P) array or a list of them, one per seed. Prompts are resampled within
    each seed, the per-seed means averaged (spec 5.7). Resampling is done with multinomial counts,
    so memory stays O(R x N) instead of O(R x N x P). NaN entries (positions masked out, e.g. outliers)
    are left out of each mean; a position with no scored prompt is NaN.
    """
    per_seed = [errors] if isinstance(errors, np.ndarray) else list(errors)
    boot = np.zeros((n_resamples, per_seed[0].shape[1]))
    means = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for err in per_seed:
            n = err.shape[0]
            scored = ~np.isnan(err)
            values = np.where(scored, err, 0.0)
            counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples)  # (R, N)
            boot += (counts @ values) / (counts @ scored)
            means.append(values.sum(0) / scored.sum(0))
    boot /= len(per_seed)
    mean = np.mean(means, axis=0)
    alpha = (1.0 - ci) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha], axis=0)
    return mean, low, high
