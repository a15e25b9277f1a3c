"""Checkpoints and trained models on disk: atomic writes, and loads that refuse corrupt files or
files written for another configuration."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import CheckpointError
from ..models import ICLModel, build_model
from ..tasks import task_from_spec


def atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, expected_hash: str | None = None, map_location="cpu") -> dict:
    """Load a checkpoint, refusing corrupt files and files written for another config."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise CheckpointError(
            f"{path} is corrupt or not a mambaicl checkpoint ({type(e).__name__}: {e}). "
            "Delete it and rerun the rule to recompute it."
        ) from None
    if not isinstance(state, dict) or "spec_hash" not in state:
        raise CheckpointError(f"{path} is not a mambaicl checkpoint (no spec hash). Delete it and rerun the rule.")
    if expected_hash is not None and state["spec_hash"] != expected_hash:
        raise CheckpointError(
            f"{path} was written by another configuration (spec hash {state['spec_hash']}, this run "
            f"expects {expected_hash}). Move it away or delete it, then rerun the rule."
        )
    return state


def load_trained_model(path: str | Path, device="cpu") -> tuple[ICLModel, dict]:
    state = load_checkpoint(path, map_location=device)
    spec = state["spec"]
    task = task_from_spec(spec["task"])
    model = build_model(spec["model"], task.token_dim, seed=spec["seed"], out_dim=task.out_dim)
    model.load_state_dict(state["model"])
    return model.to(device), state
