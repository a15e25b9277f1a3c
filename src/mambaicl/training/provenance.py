"""What a training run ran on: library versions, thread count and device, stored in every checkpoint
and in ``model.pt`` (key ``provenance``).

Exact resume holds only under the same conditions: CPU kernels split reductions by thread count
(a run killed under 2 threads and resumed under 1 ends with weights differing by ~1e-4), and kernels
change between torch releases. A checkpoint is therefore resumed only under the thread count,
torch version and device type it was written with.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..errors import CheckpointError


def _installed(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def provenance(device: torch.device | str) -> dict:
    """Versions, threads and device of this process (``transformers`` only where it is installed)."""
    device = torch.device(device)
    rec = {
        "mambaicl": __version__,
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "device": str(device),
    }
    if (tf := _installed("transformers")) is not None:
        rec["transformers"] = tf
    if device.type == "cuda":
        rec["cuda"] = torch.version.cuda
        rec["gpu"] = torch.cuda.get_device_name(device)
    return rec


def check_resumable(state: dict, ckpt_path: Path, device: torch.device) -> None:
    """Refuse to resume ``state`` under another thread count, torch version or device type."""
    rec = state.get("provenance")
    start_afresh = f"delete {ckpt_path.parent} to train afresh from step 0"
    if not isinstance(rec, dict):
        raise CheckpointError(
            f"{ckpt_path} records no thread count or library versions (written by an older mambaicl), so resuming "
            f"it cannot be shown to reproduce an uninterrupted run; {start_afresh}, then rerun the rule."
        )
    now = provenance(device)
    differ = []
    if rec.get("threads") != now["threads"]:
        differ.append(f"{rec.get('threads')} threads (this run: {now['threads']}; rerun with the original "
                      f"`threads: {rec.get('threads')}` config value)")
    if rec.get("torch") != now["torch"]:
        differ.append(f"torch {rec.get('torch')} (this run: {now['torch']}; rerun in an environment with "
                      f"torch {rec.get('torch')})")
    if torch.device(rec.get("device", "cpu")).type != device.type:
        differ.append(f"device {rec.get('device')} (this run: {device}; set `device:` back)")
    if differ:
        raise CheckpointError(
            f"{ckpt_path} was written under " + "; ".join(differ) + ". Resuming under other conditions would "
            f"not reproduce an uninterrupted run. Either restore them, or {start_afresh}, then rerun the rule."
        )
