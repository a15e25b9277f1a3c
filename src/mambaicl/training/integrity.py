"""Content hashes for the files training writes (``checkpoints/last.pt``, ``model.pt``).

``torch.load`` does not check the zip CRCs of a ``.pt`` file: bytes flipped inside tensor data load
silently as wrong weights. Each file therefore gets a sidecar ``<name>.sha256`` holding the SHA-256
of its exact bytes, in ``sha256sum`` format (``sha256sum -c model.pt.sha256`` checks it by hand).
The sidecar is written after the file, and every load verifies it first: a mismatch, or a missing
sidecar, is refused with a message saying which file to delete.

A file written before mambaicl recorded hashes has no sidecar. If you trust such a file, record
its hash explicitly with ``python -m mambaicl.training.integrity PATH [PATH ...]``.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from ..errors import CheckpointError

SUFFIX = ".sha256"


def sidecar(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + SUFFIX)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sidecar_text(path: Path, digest: str) -> str:
    return f"{digest}  {path.name}\n"


def read_sidecar(path: Path) -> str | None:
    """The recorded digest of ``path``, or None if it has no (readable) sidecar."""
    try:
        text = sidecar(path).read_text()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    digest = text.split()[0] if text.split() else ""
    return digest.lower() if len(digest) == 64 else ""


def what_to_do(path: Path) -> str:
    """How to recover from a refused ``path``: what to delete and what the rerun then does."""
    if path.name == "model.pt":
        return (f"Delete {path} and rerun the workflow: Snakemake reruns its train job, which resumes from "
                f"{path.parent / 'checkpoints' / 'last.pt'} if one is left and otherwise trains afresh.")
    return (f"Delete {path} (and {sidecar(path).name}) and rerun the rule: "
            "the job then starts again from step 0.")


def verify(path: str | Path) -> None:
    """Refuse ``path`` unless its bytes match the SHA-256 recorded beside it. Writes nothing."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} does not exist; rerun the rule that writes it.")
    recorded = read_sidecar(path)
    if recorded is None:
        raise CheckpointError(
            f"{path} has no integrity record {sidecar(path).name} (it was written before mambaicl recorded "
            "hashes, or the record was deleted), so its content cannot be verified. "
            + what_to_do(path)
            + f" If you know the file is intact, `python -m mambaicl.training.integrity {path}` records its hash."
        )
    actual = sha256_file(path)
    if actual != recorded:
        raise CheckpointError(
            f"{path} is corrupt: its SHA-256 {actual[:16]}... differs from the {recorded[:16] or '(unreadable)'}... "
            f"recorded in {sidecar(path).name} when it was written (flipped bytes on disk, or an interrupted "
            "copy). Its weights cannot be trusted. " + what_to_do(path)
        )


def sidecar_tmp(path: str | Path) -> Path:
    side = sidecar(path)
    return side.with_name(side.name + ".tmp")


def write_sidecar_tmp(path: Path, data_file: Path) -> Path:
    """Hash ``data_file`` (the not yet renamed write of ``path``) into ``<path>.sha256.tmp``; return it."""
    tmp = sidecar_tmp(path)
    with open(tmp, "w") as f:
        f.write(sidecar_text(path, sha256_file(data_file)))
        f.flush()
        os.fsync(f.fileno())
    return tmp


def record(path: str | Path) -> str:
    """Write the sidecar of an existing, trusted file (atomically); return the digest."""
    path = Path(path)
    tmp = write_sidecar_tmp(path, path)
    os.replace(tmp, sidecar(path))
    return read_sidecar(path) or ""


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m mambaicl.training.integrity PATH [PATH ...]  (records the SHA-256 of trusted files)")
        return 2
    for p in argv:
        print(f"{record(p)}  {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
