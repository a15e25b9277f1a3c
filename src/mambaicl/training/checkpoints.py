"""Checkpoints and trained models on disk: atomic writes with a content hash beside each file, and
loads that refuse corrupt files or files written for another configuration."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import torch

from ..errors import CheckpointError, WriteFailedError
from ..models import ICLModel, build_model
from ..tasks import task_from_spec
from .integrity import sidecar, sidecar_tmp, verify, write_sidecar_tmp

_DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _disk_full(e: BaseException) -> bool:
    # torch's C++ writer reports a full disk as RuntimeError("... basic_ios::clear ...") or "file write failed"
    text = str(e)
    return (isinstance(e, OSError) and e.errno in _DISK_FULL) or any(
        s in text for s in ("basic_ios::clear", "No space left", "file write failed", "Disk quota"))


def atomic_save(obj, path: str | Path) -> None:
    """Write ``obj`` to ``path`` and its SHA-256 to ``<path>.sha256``, both via temporary files.

    Either both files are replaced or neither is: a failed write (full disk) removes its temporary
    files and raises WriteFailedError, leaving any previous ``path`` and its hash as they were.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())  # a deferred ENOSPC surfaces here, not after the rename
        side_tmp = write_sidecar_tmp(path, tmp)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        sidecar_tmp(path).unlink(missing_ok=True)
        if not isinstance(e, (OSError, RuntimeError)):
            raise
        reason = "the disk is full" if _disk_full(e) else "the write failed"
        previous = (f"the previous {path.name} is intact" if path.exists()
                    else f"no {path.name} was left behind")
        raise WriteFailedError(
            f"could not write {path}: {reason} ({type(e).__name__}: {e}). Free space on the disk holding "
            f"{path.parent} (or fix the write error) and rerun the rule; {previous}."
        ) from e
    os.replace(tmp, path)
    os.replace(side_tmp, sidecar(path))


def load_checkpoint(path: str | Path, expected_hash: str | None = None, map_location="cpu") -> dict:
    """Load a checkpoint or trained model after checking its bytes against the SHA-256 recorded at
    write time; refuse corrupt files, files without a hash and files written for another config."""
    path = Path(path)
    verify(path)
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
    """A trained ``model.pt`` (verified by ``load_checkpoint``) as a model on ``device``, and its state."""
    state = load_checkpoint(path, map_location=device)
    spec = state["spec"]
    task = task_from_spec(spec["task"])
    model = build_model(spec["model"], task.token_dim, seed=spec["seed"], out_dim=task.out_dim)
    model.load_state_dict(state["model"])
    return model.to(device), state
