"""Training-job specs of a workflow config, for the device check's benchmarks (bench_steps.py, share_gpu.py).

This module is the only place where the scripts in benchmarks/gpu/ import from mambaicl beyond
``mambaicl.models`` and ``mambaicl.tasks``: the config loader, validator and job-spec builder, and the trainer's
setup of a run and of a pack (``build_run``, ``forward_loss_fn``, ``open_pack``) and its compilation
(``compile_step``, ``begin_step``), re-exported for bench_steps.py. When the library's config or training modules move, update the imports below and nothing else.
"""

from __future__ import annotations

from pathlib import Path

from mambaicl.config import load_yaml, train_spec  # with validation below, the library imports outside models/tasks
from mambaicl.validation import validate
from mambaicl.training.compile import begin_step, compile_step  # noqa: F401 - re-exported: train.compile
from mambaicl.training.loop import build_run, forward_loss_fn  # noqa: F401 - re-exported: the trainer's setup
from mambaicl.training.pack import open_pack  # noqa: F401 - re-exported: K runs as one packed step, no files

REPO = Path(__file__).resolve().parents[2]
PAPER = REPO / "workflow" / "config" / "paper.yaml"


def load_config(path: str | Path = PAPER) -> dict:
    """A validated config (named model sizes expanded into explicit keys)."""
    config = load_yaml(path)
    validate(config)
    return config


def job_spec(config: dict, task: str, model: str, seed: int = 1) -> dict:
    """The spec the workflow's `train` rule hands to the trainer for (task, model, seed)."""
    return train_spec(config, task, model, seed)


def final_stage(curriculum: dict, steps: int) -> tuple[int, int]:
    """(active dimensions, points) at the last training step: Garg's curriculum counters,
    min(start + inc * floor(t / interval), end), at t = steps - 1."""
    def at(s: dict) -> int:
        return min(s["start"] + s.get("inc", 0) * ((steps - 1) // s.get("interval", 1)), s["end"])
    return at(curriculum["dims"]), at(curriculum["points"])
