"""Checkpoints and trained models on disk: atomic writes with a content hash beside each file, written in the
background by ``BackgroundSaver`` so that training does not wait for them, and loads that refuse corrupt files or
files written for another configuration."""

from __future__ import annotations

import copy
import errno
import os
from concurrent.futures import Future, ThreadPoolExecutor
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


# ---- writes that do not stall training -----------------------------------------------------------------------

# Immutable leaves a snapshot shares with its input (torch.Size: a tuple of ints).
_ATOMS = (type(None), bool, int, float, complex, str, bytes, torch.dtype, torch.device, torch.Size, torch.layout,
          torch.memory_format)


class _Snapshot:
    """One snapshot's walk over a checkpoint object. Memos by ``id`` (an object met twice is copied once) and each
    tensor storage by its identity, copied whole once and every tensor on it rebuilt as the same view: the copy
    shares exactly what the input shares, so ``torch.save`` writes it as it writes the input."""

    def __init__(self):
        self.memo: dict[int, object] = {}
        self.storages: dict[int, torch.Tensor] = {}  # storage identity -> its bytes on the CPU (uint8)
        self.streams: dict[torch.device, torch.cuda.Stream] = {}  # CUDA streams that queued copies

    def copy(self, obj):
        if isinstance(obj, _ATOMS):
            return obj
        key = id(obj)
        if key in self.memo:
            return self.memo[key]
        if isinstance(obj, torch.Tensor):
            new = self.tensor(obj)
        elif isinstance(obj, dict):
            # copy.copy keeps a subclass, an OrderedDict's _metadata (load_state_dict reads it) and a factory
            new = {} if type(obj) is dict else copy.copy(obj)
            new.clear()
            self.memo[key] = new  # before the items: a dict may hold itself
            for k, v in obj.items():
                new[self.copy(k)] = self.copy(v)
            for name, value in getattr(obj, "__dict__", {}).items():
                setattr(new, name, self.copy(value))
        elif isinstance(obj, list):
            new = self.memo[key] = []
            new.extend(self.copy(v) for v in obj)
        elif isinstance(obj, tuple):
            items = [self.copy(v) for v in obj]
            new = type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)  # a namedtuple or a tuple
        elif isinstance(obj, (set, frozenset)):
            new = type(obj)(self.copy(v) for v in obj)
        else:  # any other object: as deep a copy as Python makes (tensors inside stay where they are)
            new = copy.deepcopy(obj)
        self.memo[key] = new
        return new

    def tensor(self, t: torch.Tensor) -> torch.Tensor:
        if type(t) not in (torch.Tensor, torch.nn.Parameter) or t.layout != torch.strided or t.is_conj() or t.is_neg():
            return t.detach().to("cpu", copy=True)  # sparse, quantized, subclasses: a plain copy
        storage = t.untyped_storage()
        data = self.storages.get(storage._cdata)
        if data is None:
            data = self.storages[storage._cdata] = self.copy_storage(storage)
        new = torch.empty(0, dtype=t.dtype).set_(data.untyped_storage(), t.storage_offset(), t.size(), t.stride())
        if isinstance(t, torch.nn.Parameter):
            return torch.nn.Parameter(new, requires_grad=t.requires_grad)
        return new.requires_grad_(t.requires_grad and t.is_leaf)

    def copy_storage(self, storage: torch.UntypedStorage) -> torch.Tensor:
        src = torch.empty(0, dtype=torch.uint8, device=storage.device).set_(storage)
        if src.device.type != "cuda":
            return src.to("cpu", copy=True)
        # Pinned memory and non_blocking: the copy is queued on the training's stream, after every kernel that
        # writes these tensors and before any later in-place update (an optimiser step) queued there
        dst = torch.empty(src.numel(), dtype=torch.uint8, pin_memory=True)
        dst.copy_(src, non_blocking=True)
        self.streams[src.device] = torch.cuda.current_stream(src.device)
        return dst

    def done(self) -> list:
        """Events marking the end of the queued device-to-host copies (none on the CPU)."""
        return [stream.record_event() for stream in self.streams.values()]


def snapshot(obj):
    """A deep copy of a checkpoint object (nested dicts, OrderedDicts with their ``_metadata``, lists, tuples,
    tensors, scalars) with every tensor on the CPU, complete when it returns: later in-place updates of the input
    (the optimiser's next step) do not reach it. Tensors sharing a storage in ``obj`` share one in the copy."""
    walk = _Snapshot()
    new = walk.copy(obj)
    for event in walk.done():
        event.synchronize()
    return new


class _FailedWrite(Exception):
    """A background write's error with the path it was writing (of the several one job may write)."""

    def __init__(self, path: Path, error: Exception):
        super().__init__(path, error)
        self.path, self.error = path, error


def _write(items: list[tuple[object, Path]], events: list) -> None:
    for event in events:  # the device-to-host copies have landed before torch.save reads them
        event.synchronize()
    for obj, path in items:  # in order; the first failure stops the job (later files keep their previous state)
        try:
            atomic_save(obj, path)
        except Exception as e:
            raise _FailedWrite(path, e) from e


class BackgroundSaver:
    """Checkpoint writes (``atomic_save``) on one background thread, so that training runs on while torch.save and
    fsync write the file. ``save`` snapshots ``obj`` on the calling thread (``snapshot``), then queues the write;
    at most one write is in flight (``save`` first waits for the previous one: memory stays bounded and files are
    written in order); ``save_all`` writes several files as one such write. A failed write is raised by the next
    ``save``, ``wait`` or ``close``.

    As a context manager it waits for the last write on exit and raises its error; when training raised, its
    exception keeps precedence and a write error is added to it as a note."""

    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mambaicl-checkpoint")
        self._pending: Future | None = None

    def save(self, obj, path: str | Path) -> None:
        self.save_all([(obj, path)])

    def save_all(self, items: list[tuple[object, str | Path]]) -> None:
        """Several files as one background write (a pack's K checkpoints), snapshotted now, written in order."""
        self.wait()
        walk = _Snapshot()
        copies = [(walk.copy(obj), Path(path)) for obj, path in items]
        self._pending = self._pool.submit(_write, copies, walk.done())

    def wait(self) -> None:
        """Wait for the pending write; raise its error (WriteFailedError as it is, another one naming the path)."""
        if self._pending is None:
            return
        future = self._pending
        self._pending = None
        try:
            future.result()
        except _FailedWrite as failed:
            path, e = failed.path, failed.error
            if isinstance(e, WriteFailedError):
                raise e  # as atomic_save raised it, with its cause
            previous = (f"the previous {path.name} is intact" if path.exists()
                        else f"no {path.name} was left behind")
            raise WriteFailedError(
                f"could not write {path} in the background ({type(e).__name__}: {e}); {previous}. Fix the error "
                "and rerun the rule."
            ) from e

    def close(self) -> None:
        """Wait for the pending write (raising its error) and stop the writer thread."""
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> BackgroundSaver:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            self.close()
            return False
        try:
            self.close()  # the write in flight finishes: the last checkpoint is whole on disk, or was not replaced
        except Exception as write_error:
            exc.add_note(f"while stopping, the checkpoint write also failed: {write_error}")
        return False


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
