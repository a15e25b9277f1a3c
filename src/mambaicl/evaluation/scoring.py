"""Score models and baselines on a fixed prompt set: squared error per prompt and position."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from tqdm import tqdm

from ..models import ICLModel
from ..tasks import PromptBatch, Task
from .baselines import run_baseline
from .ood import has_query_strategy, per_query_errors
from .prompt_sets import PromptSet
from .stats import bootstrap_mean_ci


def _score(predict, task: Task, batch: PromptBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(B, P) metric and extra metrics of ``predict`` (PromptBatch -> predictions) on one batch.
    Prompt-strategy OOD sets score query i on its own (i + 1)-point prompt (``ood.per_query_errors``)."""
    if has_query_strategy(batch):
        return per_query_errors(predict, task, batch), {}
    preds = predict(batch)
    return task.errors(preds, batch), task.extra_metrics(preds, batch)


def _stack(rows: list[tuple[torch.Tensor, dict]], n_points: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Concatenate per-batch results, NaN-padded to ``n_points`` positions."""
    def pad(t: torch.Tensor) -> np.ndarray:
        a = t.double().cpu().numpy()
        out = np.full((a.shape[0], n_points), np.nan)
        out[:, : a.shape[1]] = a
        return out

    errors = np.concatenate([pad(e) for e, _ in rows])
    extras = {k: np.concatenate([pad(x[k]) for _, x in rows]) for k in rows[0][1]}
    return errors, extras


@torch.no_grad()
def score_model(model: ICLModel, task: Task, prompts: PromptSet, batch_size: int,
                device: torch.device) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(N, P) per-position metric of ``task`` and its extra metrics (e.g. MQAR's accuracies);
    positions beyond what the model can read are NaN."""
    model.eval().to(device)
    n_points = prompts.n_points
    if model.max_tokens is not None:
        n_points = min(n_points, task.max_points(model.max_tokens))
    rows = [_score(lambda b: model.predict(task, b), task, batch.truncate(n_points))
            for batch in prompts.batches(batch_size, device)]
    return _stack(rows, prompts.n_points)


def model_errors(model: ICLModel, task: Task, prompts: PromptSet, batch_size: int, device: torch.device) -> np.ndarray:
    """(N, P) per-position metric of ``task``; positions beyond what the model can read are NaN."""
    return score_model(model, task, prompts, batch_size, device)[0]


def score_baseline(name: str, task: Task, prompts: PromptSet, batch_size: int = 256, n_jobs: int = 1,
                   seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(N, P) per-position metric of baseline ``name`` on the same prompts (masks and extras passed on),
    and its extra metrics."""
    rows = [_score(lambda b: run_baseline(name, b, n_jobs=n_jobs, seed=seed), task, b)
            for b in tqdm(list(prompts.batches(batch_size)), desc=name, mininterval=5)]
    return _stack(rows, prompts.n_points)


def baseline_errors(name: str, task: Task, prompts: PromptSet, batch_size: int = 256, n_jobs: int = 1,
                    seed: int = 0) -> np.ndarray:
    """(N, P) per-position metric of baseline ``name`` on the same prompts (masks and extras passed on)."""
    return score_baseline(name, task, prompts, batch_size, n_jobs, seed)[0]


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
