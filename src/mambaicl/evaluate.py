"""Score models and baselines on a fixed prompt set: squared error per prompt and position."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from tqdm import tqdm

from .baselines import run_baseline
from .data import PromptSet
from .models import ICLModel
from .stats import bootstrap_mean_ci
from .tasks import Task


@torch.no_grad()
def model_errors(model: ICLModel, task: Task, prompts: PromptSet, batch_size: int, device: torch.device) -> np.ndarray:
    """(N, P) per-position metric of ``task``; positions beyond what the model can read are NaN."""
    model.eval().to(device)
    n_points = prompts.n_points
    if model.max_tokens is not None:
        n_points = min(n_points, task.max_points(model.max_tokens))
    out = np.full((prompts.n_prompts, prompts.n_points), np.nan)
    row = 0
    for batch in prompts.batches(batch_size, device):
        batch = batch.truncate(n_points)
        out[row : row + len(batch), :n_points] = task.errors(model.predict(task, batch), batch).double().cpu().numpy()
        row += len(batch)
    return out


def baseline_errors(name: str, task: Task, prompts: PromptSet, batch_size: int = 256, n_jobs: int = 1,
                    seed: int = 0) -> np.ndarray:
    """(N, P) per-position metric of baseline ``name`` on the same prompts (masks and extras passed on)."""
    return np.concatenate([task.errors(run_baseline(name, b, n_jobs=n_jobs, seed=seed), b).double().numpy()
                           for b in tqdm(list(prompts.batches(batch_size)), desc=name, mininterval=5)])


def curve_table(
    errors: list[np.ndarray] | np.ndarray,
    normalizer: float,
    bootstrap: dict,
    **labels,
) -> pd.DataFrame:
    """Tidy per-position summary: k (in-context examples), raw and normalised mean with CI.

    Positions no prompt scores (all NaN: beyond a model's positional table) are dropped.
    """
    rng = np.random.default_rng(bootstrap["seed"])
    mean, low, high = bootstrap_mean_ci(errors, bootstrap["n_resamples"], bootstrap["ci"], rng)
    n_seeds = 1 if isinstance(errors, np.ndarray) else len(errors)
    n_prompts = errors.shape[0] if isinstance(errors, np.ndarray) else errors[0].shape[0]
    df = pd.DataFrame({
        "k": np.arange(len(mean)),
        "mean": mean,
        "ci_low": low,
        "ci_high": high,
        "normalized_mean": mean / normalizer,
        "normalized_ci_low": low / normalizer,
        "normalized_ci_high": high / normalizer,
        "n_prompts": n_prompts,
        "n_seeds": n_seeds,
    })
    for key, value in reversed(labels.items()):
        df.insert(0, key, value)
    return df.dropna(subset=["mean"]).reset_index(drop=True)
