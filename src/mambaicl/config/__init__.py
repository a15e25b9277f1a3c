"""The workflow config: loading and schema (``schema``), the core sections' cross-field checks
(``checks``), run enumeration and per-job specs (``runs``), the container settings (``containers``), and
how the workflow was started: working directory, config files, ``--config`` values (``invocation``).

This package imports no pipeline stage: each stage checks its own config sections, and
``mambaicl.validation`` runs every check in order.
"""

from .runs import (
    eval_data_spec,
    experiment_of,
    iter_runs,
    model_label,
    models_of,
    paper_groups,
    seeds_of,
    spec_hash,
    task_params,
    task_spec,
    train_spec,
    trained_tasks,
)
from .schema import DEFAULT_SCHEMA, REPO_ROOT, load_yaml, suggest, validate_schema

__all__ = [
    "DEFAULT_SCHEMA", "REPO_ROOT", "eval_data_spec", "experiment_of", "iter_runs", "load_yaml", "model_label",
    "models_of", "paper_groups", "seeds_of", "spec_hash", "suggest", "task_params", "task_spec", "train_spec", "trained_tasks", "validate_schema",
]
