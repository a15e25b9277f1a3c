"""Names the report shows for what the workflow computed: task titles, generator options, metric labels,
and which configured k a task's tables report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

# Metrics for which higher is better (the others are errors); the tasks declare theirs, a test keeps both in step.
HIGHER_IS_BETTER = {"accuracy"}

TASK_TITLES = {
    "linear_regression": "Linear regression",
    "skewed_linear_regression": "Skewed-covariance linear regression",
    "sparse_linear_regression": "Sparse linear regression",
    "relu_nn": "2-layer ReLU network",
    "decision_tree": "Decision tree",
    "noisy_linear_regression": "Noisy linear regression",
    "quadratic_regression": "Quadratic regression",
    "ortho_outlier_regression": "Orthogonal-outlier regression",
    "many_outlier_regression": "Many-outlier regression",
    "sparse_parity": "Sparse parity",
    "mqar": "Vector-valued MQAR",
    "cot_io": "Chain-of-thought I/O",
}


def task_title(spec_task: dict, instance: str) -> str:
    """Display title of a task instance: its generator's title, plus the instance name if it differs."""
    title = TASK_TITLES.get(spec_task["name"], spec_task["name"])
    return title if instance == spec_task["name"] else f"{title} ({instance.replace('_', ' ')})"


def metric_info(meta_path: str) -> tuple[dict, str, bool]:
    """A prompt set's generator spec, metric and its direction, from the set's metadata (no torch needed)."""
    meta = json.loads(Path(meta_path).read_text())
    return meta["spec"]["task"], meta["metric"], meta["metric"] in HIGHER_IS_BETTER


def metric_label(metric: str) -> str:
    return {"accuracy": "accuracy"}.get(metric, "normalized squared error")


def report_k_values(k_values: list[int], curves: pd.DataFrame) -> list[int]:
    """The configured k that this task evaluates; its last position if none is."""
    return k_values_upto(k_values, int(curves.k.max()))


def k_values_upto(k_values: list[int], last_k: int) -> list[int]:
    """The configured k up to a task's last evaluated position ``last_k``; ``[last_k]`` if none is."""
    ks = [k for k in k_values if k <= last_k]
    return ks or [int(last_k)]


# The baseline registry's order (``evaluation.baselines.BASELINES``, which needs torch; a test keeps both in step).
BASELINE_ORDER = ["zero", "least_squares", "averaging", "nearest_neighbors", "lasso_1", "lasso_0.1", "lasso_0.01",
                  "lasso_0.001", "lasso_0.0001", "nn_gd", "greedy_tree_depth4", "greedy_tree", "xgboost",
                  "parity_gf2", "parity_support_vote", "mqar_nearest_key", "mqar_zero"]


def row_key(kind: str, name: str, model_order: list[str]) -> tuple[int, int, str]:
    """Sort key of a table row: models in the config's model order, then baselines in registry order
    (names in neither list last, alphabetically), so that every table lists its rows alike."""
    order = model_order if kind == "model" else BASELINE_ORDER
    return (0 if kind == "model" else 1, order.index(name) if name in order else len(order), name)


def order_rows(df: pd.DataFrame, model_order: list[str]) -> pd.DataFrame:
    """``df`` (with ``kind`` and ``name`` columns) sorted stably by ``row_key``."""
    keys = [row_key(k, n, model_order) for k, n in zip(df["kind"], df["name"])]
    return df.iloc[sorted(range(len(df)), key=keys.__getitem__)]


def options_text(spec_task: dict) -> str:
    """The generator options a figure used, e.g. 'reference_weight = fresh, outlier_prob = 0.5'."""
    return ", ".join(f"{k} = {v}" for k, v in sorted(spec_task.items()) if k != "name")


# Defaults of the outlier generators' placement options (``tasks.outliers``; a test keeps them in step).
OUTLIER_CHOICE_DEFAULTS = {"fixed_spacing": "released", "dummy_inactive": "one"}
_SPACING_TEXT = {
    "released": r"as in Park et al.'s release (defect D-fixed-dummy): for $p \le 1/2$ every "
                r"$\lfloor 1/p \rfloor$-th position from the $\lfloor 1/p \rfloor$-th on, but for $p > 1/2$ "
                r"only the first $\lfloor 1/(1-p) \rfloor$ positions, all at the start of the prompt",
    "even": r"evenly spread (our correction of defect D-fixed-dummy): position $i \ge 1$ is an outlier iff "
            r"$\lfloor ip \rfloor > \lfloor (i-1)p \rfloor$, which agrees with the release for $p = 1/2$",
}
_INACTIVE_TEXT = {
    "one": "all-ones on every coordinate, curriculum-inactive ones included (Park et al.'s protocol)",
    "zero": "all-ones on the curriculum-active coordinates and zero on the inactive ones (our alternative)",
}


def generator_choices_text(spec_task: dict) -> str:
    """LaTeX sentences naming the placement choices of an outlier task instance (empty for other tasks),
    defaults included, for the results section's captions."""
    if spec_task["name"] not in ("ortho_outlier_regression", "many_outlier_regression"):
        return ""
    opts = {**OUTLIER_CHOICE_DEFAULTS, **spec_task}
    text = rf"Outlier positions in the \texttt{{fixed\_dummy}} setting: {_SPACING_TEXT[opts['fixed_spacing']]}."
    if spec_task["name"] == "many_outlier_regression":
        text += rf" Dummy $x$: {_INACTIVE_TEXT[opts['dummy_inactive']]}."
    return text


def plot_scale(gd_scale: str, n_dims: int, kind: str) -> float:
    """Factor applied to a raw MSE before plotting: ``kind`` is 'probe' or 'gd' (spec 6.9, defect D13).
    ``released``: the probe raw, GD as the release logs it, 0.5 * MSE * 2/D = MSE / D (spec 11.1)."""
    if gd_scale == "per_dim":
        return 1.0 / n_dims
    if gd_scale == "released":
        return 1.0 / n_dims if kind == "gd" else 1.0
    raise ValueError(f"probing.gd_scale must be per_dim or released; got {gd_scale!r}")
