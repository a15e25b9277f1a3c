"""The device check's JSON-lines records: one row per measurement, printed and appended to the results file."""

from __future__ import annotations

import json
import os
from pathlib import Path


def default_out() -> str | None:
    """$OUT/results.jsonl when the device check set OUT, else None (print only)."""
    return str(Path(os.environ["OUT"]) / "results.jsonl") if os.environ.get("OUT") else None


def emit(row: dict, out: str | None) -> None:
    """Print ``row`` as one JSON line and append it to ``out`` (when given) at once, so a cut-short run keeps it."""
    line = json.dumps(row)
    print(line, flush=True)
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")
