"""What every workflow job needs before it starts: its declared log file, its device and thread count,
and the guard that keeps paper-scale runs off CPUs by accident."""

from __future__ import annotations

import contextlib
import traceback
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DeviceError

if TYPE_CHECKING:
    import torch


def cuda_available() -> bool:
    import torch  # in the functions, not at the top: report jobs start without torch

    return torch.cuda.is_available()


def resolve_device(name: str) -> torch.device:
    """Map the config's ``device`` value (auto | cpu | cuda) to a torch device."""
    import torch

    if name == "auto":
        return torch.device("cuda" if cuda_available() else "cpu")
    if name == "cuda" and not cuda_available():
        raise DeviceError(
            "config asks for device: cuda, but PyTorch sees no CUDA GPU on this machine. "
            "Use device: auto or device: cpu, or run on a GPU host."
        )
    return torch.device(name)


def check_cuda_guard(config: dict, configfile_hint: str = "workflow/config/smoke.yaml") -> None:
    """Stop a paper-scale run on a machine without CUDA, before any job starts.

    The paper config sets ``require_cuda: true``: its 500k-step trainings would take months on a
    CPU. ``--config require_cuda=false`` runs it on CPU anyway.
    """
    if config.get("require_cuda", False) and not cuda_available():
        raise DeviceError(
            f"the '{config.get('run_name', '?')}' config needs a CUDA GPU (require_cuda: true) "
            "and PyTorch sees none on this machine. For a tiny end-to-end run use "
            f"`--configfile {configfile_hint}`; to run this config on CPU anyway "
            "(weeks to months of compute) add `--config require_cuda=false`."
        )


def configure_torch(device: torch.device, threads: int | None = None) -> None:
    """Set thread count and matmul precision the way the papers ran (TF32 allowed on GPU)."""
    import torch

    if threads is not None and threads > 0:
        torch.set_num_threads(threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


@contextlib.contextmanager
def log_to(path: str | Path | None):
    """Send stdout and stderr (tqdm included) to the rule's declared log file.

    The log is appended to, never truncated: each attempt of the job starts with a line
    ``=== attempt started <ISO time> ===``, so a rerun keeps the log of the attempt that failed
    above its own. An attempt that raises ends with its traceback (then the exception propagates,
    and Snakemake sees the job fail); one that succeeds ends with ``=== attempt finished <ISO time> ===``.
    """
    if path is None:
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", buffering=1) as f:
        if f.tell() > 0:
            f.write("\n")
        f.write(f"=== attempt started {_now()} ===\n")
        try:
            with contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
                yield
        except BaseException:
            f.write(f"=== attempt failed {_now()} ===\n")
            traceback.print_exc(file=f)
            raise
        f.write(f"=== attempt finished {_now()} ===\n")
