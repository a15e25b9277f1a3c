"""The evaluation stage's workflow jobs (``workflow/scripts/make_eval_prompts.py``, ``setting_prompts.py``,
``evaluate_model.py``, ``evaluate_baseline.py``, ``aggregate_curves.py``, ``retrieval_metrics.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..models.mamba import log_scan_implementation, set_scan
from ..runtime import configure_torch, resolve_device
from ..tasks import task_from_spec
from ..training.checkpoints import load_trained_model
from .baselines import BASELINE_LABELS
from .prompt_sets import generate_prompt_set, load_prompt_set, save_prompt_set
from .scoring import curve_table, score_baseline, score_model
from .settings import generate_setting_prompts
from .stats import bootstrap_mean_ci


def make_eval_prompts(spec: dict, out_npz: str, out_meta: str) -> None:
    ps = generate_prompt_set(spec)
    save_prompt_set(ps, out_npz, out_meta)
    print(f"wrote {ps.n_prompts} prompts of {ps.n_points} points to {out_npz}")


def evaluate_model_job(model_path: str, data_npz: str, data_meta: str, out_npy: str, batch_size: int,
                       device: str, threads: int, out_extra: str | None = None, scan: str = "auto") -> None:
    """Score a trained model with its own task's read-out and metric (also on another setting's prompts);
    ``scan``: the config's implementation choice for Mamba and RWKV blocks."""
    dev = resolve_device(device)
    configure_torch(dev, threads)
    prompts = load_prompt_set(data_npz, data_meta)
    model, state = load_trained_model(model_path, dev)
    log_scan_implementation(set_scan(model, scan, dev), dev)
    errs, extras = score_model(model, task_from_spec(state["spec"]["task"]), prompts, batch_size, dev)
    np.save(out_npy, errs)
    if out_extra is not None:
        np.savez(out_extra, **extras)
    print(f"evaluated {model_path} (spec {state['spec_hash']}) on {prompts.n_prompts} prompts on {dev}")


def evaluate_baseline_job(name: str, data_npz: str, data_meta: str, out_npy: str, threads: int,
                          n_jobs: int = 1, seed: int = 0, out_extra: str | None = None,
                          scoring_task: dict | None = None) -> None:
    """Score baseline ``name``; ``scoring_task`` (the trained task's spec) scores a setting's prompts
    the way that task's models are scored; default the prompt set's own generator."""
    configure_torch(torch.device("cpu"), threads)
    prompts = load_prompt_set(data_npz, data_meta)
    task = task_from_spec(scoring_task or prompts.meta["spec"]["task"])
    errs, extras = score_baseline(name, task, prompts, n_jobs=n_jobs, seed=seed)
    np.save(out_npy, errs)
    if out_extra is not None:
        np.savez(out_extra, **extras)


def aggregate_curves_job(task: str, model_errors: dict[str, list[str]], model_labels: dict[str, str],
                         baseline_errors: dict[str, str], data_meta: str, bootstrap: dict,
                         out_csv: str, out_per_seed_csv: str) -> None:
    """Mean over seeds with a bootstrap CI (prompts resampled within seeds); per-seed curves kept too."""
    normalizer = json.loads(Path(data_meta).read_text())["normalizer"]
    frames, per_seed = [], []
    for model, paths in model_errors.items():
        errs = [np.load(p) for p in paths]
        frames.append(curve_table(errs, normalizer, bootstrap, task=task, kind="model", name=model,
                                  label=model_labels[model]))
        for path, e in zip(paths, errs):
            seed = Path(path).parent.name.removeprefix("seed")
            per_seed.append(curve_table(e, normalizer, bootstrap, task=task, kind="model", name=model,
                                        label=model_labels[model], seed=int(seed)))
    for name, path in baseline_errors.items():
        frames.append(curve_table(np.load(path), normalizer, bootstrap, task=task, kind="baseline", name=name,
                                  label=BASELINE_LABELS[name]))
    pd.concat(frames).to_csv(out_csv, index=False)
    pd.concat(per_seed).to_csv(out_per_seed_csv, index=False)



def make_setting_prompts_job(spec: dict, out_npz: str, out_meta: str) -> None:
    ps = generate_setting_prompts(spec)
    save_prompt_set(ps, out_npz, out_meta)
    print(f"wrote setting {spec['setting']}: {ps.n_prompts} prompts of {ps.n_points} points to {out_npz}")


def extra_metrics_job(sets: dict[str, dict], labels: dict[str, str], bootstrap: dict, n_bins: int,
                      out_csv: str, out_by_position_csv: str) -> None:
    """Secondary metrics (MQAR: nearest-value accuracy, key-match error) per setting, model and baseline,
    mean over seeds with a bootstrap CI; and the metric by queried pair (``query_index``) binned into
    ``n_bins`` groups, for the standard set.

    ``sets``: setting -> {"models": {model: [extra npz per seed]}, "baselines": {name: npz},
    "prompts": prompt-set npz}."""
    rng = np.random.default_rng(bootstrap["seed"])
    rows, by_pos = [], []
    for setting, files in sets.items():
        entries = [("model", m, labels[m], paths) for m, paths in files["models"].items()]
        entries += [("baseline", b, BASELINE_LABELS[b], [p]) for b, p in files["baselines"].items()]
        with np.load(files["prompts"]) as f:
            qi = f["extra_query_index"] if "extra_query_index" in f.files else None
        for kind, name, label, paths in entries:
            loaded = [np.load(p) for p in paths]
            for metric in loaded[0].files:
                arrs = [d[metric][:, -1:] for d in loaded]  # (N, 1): the last position
                mean, low, high = bootstrap_mean_ci(arrs, bootstrap["n_resamples"], bootstrap["ci"], rng)
                rows.append(dict(setting=setting, kind=kind, name=name, label=label, metric=metric,
                                 mean=mean[0], ci_low=low[0], ci_high=high[0], n_seeds=len(arrs)))
                if setting == "standard" and qi is not None:
                    vals = np.mean([a[:, 0] for a in arrs], axis=0)
                    bins = np.minimum(qi * n_bins // max(int(qi.max()) + 1, 1), n_bins - 1)
                    for b in range(n_bins):
                        sel = bins == b
                        if sel.any():
                            by_pos.append(dict(kind=kind, name=name, label=label, metric=metric, bin=b,
                                               first_pair=int(qi[sel].min()), last_pair=int(qi[sel].max()),
                                               mean=float(vals[sel].mean()), n=int(sel.sum())))
    cols = ["setting", "kind", "name", "label", "metric", "mean", "ci_low", "ci_high", "n_seeds"]
    pd.DataFrame(rows, columns=cols).to_csv(out_csv, index=False)
    pd.DataFrame(by_pos, columns=["kind", "name", "label", "metric", "bin", "first_pair", "last_pair", "mean",
                                  "n"]).to_csv(out_by_position_csv, index=False)

