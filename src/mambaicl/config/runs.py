"""Run enumeration and the per-job specs the rules pass to scripts, derived from a validated config.

A rule passes a spec as ``params`` so that Snakemake reruns a job exactly when its own spec changes,
and the spec's hash (``spec_hash``) is stored in checkpoints and results.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any, Iterator


def iter_runs(config: dict) -> Iterator[tuple[str, str, int]]:
    """Every (task, model, seed) to train."""
    for exp in config["experiments"]:
        for model in exp["models"]:
            for seed in exp.get("seeds", config["train"]["seeds"]):
                yield exp["task"], model, seed


def seeds_of(config: dict, task: str, model: str) -> list[int]:
    return list(experiment_of(config, task, model).get("seeds", config["train"]["seeds"]))


def task_params(entry: dict, registry: str) -> dict:
    """Constructor parameters of a ``tasks`` entry: n_dims (default the generator's) plus ``params``."""
    from ..tasks import TASKS  # here, not at the top: report jobs read configs without loading torch

    return {"n_dims": entry.get("n_dims", TASKS[registry].DEFAULT_N_DIMS), **entry.get("params", {})}


def task_spec(config: dict, task: str) -> dict:
    """``{"name": <registry name>, **constructor parameters}`` of a configured task instance."""
    entry = config["tasks"][task]
    registry = entry.get("task", task)
    return {"name": registry, **task_params(entry, registry)}


def eval_data_spec(config: dict, task: str) -> dict:
    """The in-distribution evaluation set: the training generator with its evaluation overrides
    (e.g. one fixed rotation for skewed LR)."""
    from ..tasks import task_from_spec

    ev = config["evaluation"]
    spec = task_spec(config, task)
    return {
        "task": {**spec, **task_from_spec(spec).eval_overrides()},
        "n_prompts": config["tasks"][task].get("eval_n_prompts", ev["n_prompts"]),
        "n_points": config["tasks"][task]["eval_points"],
        "seed": ev["data_seed"],
    }


def experiment_of(config: dict, task: str, model: str) -> dict:
    for exp in config["experiments"]:
        if exp["task"] == task and model in exp["models"]:
            return exp
    raise KeyError(f"no experiment trains model '{model}' on task '{task}'")


def train_spec(config: dict, task: str, model: str, seed: int) -> dict:
    exp = experiment_of(config, task, model)
    tr = {**config["train"], **exp.get("train", {})}
    model_spec = {k: v for k, v in config["models"][model].items() if k != "label"}
    if "learning_rate" in exp:
        model_spec["learning_rate"] = exp["learning_rate"]
    return {
        "task": task_spec(config, task),
        "curriculum": copy.deepcopy(config["tasks"][task]["curriculum"]),
        "model": model_spec,
        "seed": seed,
        "steps": tr["steps"],
        "batch_size": tr["batch_size"],
        "schedule": tr["schedule"],
        "grad_clip": tr.get("grad_clip"),
        **({"precision": tr["precision"]} if tr.get("precision", "fp32") != "fp32" else {}),
        "checkpoint_every": tr["checkpoint_every"],
        "log_every": tr["log_every"],
    }


def model_label(config: dict, model: str) -> str:
    return config["models"][model].get("label", model)


def spec_hash(spec: Any) -> str:
    """Stable short hash of a JSON-serialisable spec."""
    blob = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def trained_tasks(config: dict) -> list[str]:
    """The task instances some experiment trains, in config order (as the rules list them)."""
    return list(dict.fromkeys(exp["task"] for exp in config["experiments"]))


def models_of(config: dict, task: str) -> list[str]:
    """The models trained on ``task``, in config order."""
    return list(dict.fromkeys(m for exp in config["experiments"] if exp["task"] == task for m in exp["models"]))


def paper_groups(config: dict, task: str) -> dict[str, list[str]]:
    """The task's models by the ``paper`` label of their experiment (grazzi, park, extension; unlabelled:
    models), in config order: the panels of the task's error-curve figure."""
    out: dict[str, list[str]] = {}
    for exp in config["experiments"]:
        if exp["task"] == task:
            group = out.setdefault(exp.get("paper", "models"), [])
            group += [m for m in exp["models"] if m not in group]
    return out
