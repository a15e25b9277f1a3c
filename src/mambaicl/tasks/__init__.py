"""Synthetic in-context learning tasks, by config name."""

from __future__ import annotations

from .base import PromptBatch, Task
from .cot import CoTIO
from .linear_regression import (
    LinearRegression,
    NoisyLinearRegression,
    QuadraticRegression,
    SkewedLinearRegression,
    SparseLinearRegression,
)
from .mqar import VectorMQAR
from .nonlinear import DecisionTree, ReluNN
from .outliers import ManyOutlierRegression, OrthoOutlierRegression
from .parity import SparseParity

TASKS: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (
        LinearRegression,
        SkewedLinearRegression,
        SparseLinearRegression,
        ReluNN,
        DecisionTree,
        NoisyLinearRegression,
        QuadraticRegression,
        OrthoOutlierRegression,
        ManyOutlierRegression,
        SparseParity,
        VectorMQAR,
        CoTIO,
    )
}


def make_task(name: str, **params) -> Task:
    """Build a task from its config name and parameters (e.g. ``n_dims``)."""
    try:
        cls = TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task '{name}'; known tasks: {', '.join(sorted(TASKS))}") from None
    try:
        return cls(**params)
    except TypeError as e:  # an unknown parameter name: say which ones the task takes
        import inspect

        allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        raise ValueError(f"{name}: bad parameters {sorted(params)} ({e}); allowed: {', '.join(allowed)}") from None


def task_from_spec(spec: dict) -> Task:
    """Build a task from a spec dict ``{"name": ..., **params}`` as stored in job specs."""
    return make_task(spec["name"], **{k: v for k, v in spec.items() if k != "name"})


__all__ = ["TASKS", "PromptBatch", "Task", "make_task", "task_from_spec"]
