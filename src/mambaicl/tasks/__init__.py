"""Synthetic in-context learning tasks, by config name."""

from __future__ import annotations

from .base import PromptBatch, Task
from .linear_regression import LinearRegression

TASKS: dict[str, type[Task]] = {
    "linear_regression": LinearRegression,
}


def make_task(name: str, **params) -> Task:
    """Build a task from its config name and parameters (e.g. ``n_dims``)."""
    try:
        cls = TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task '{name}'; known tasks: {', '.join(sorted(TASKS))}") from None
    return cls(**params)


def task_from_spec(spec: dict) -> Task:
    """Build a task from a spec dict ``{"name": ..., **params}`` as stored in job specs."""
    return make_task(spec["name"], **{k: v for k, v in spec.items() if k != "name"})


__all__ = ["TASKS", "PromptBatch", "Task", "make_task", "task_from_spec"]
