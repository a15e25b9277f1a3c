"""Fixed, seeded evaluation prompt sets, stored as .npz with a JSON sidecar holding a SHA-256.

Every model and baseline of a task is scored on the same prompts, drawn once from ``seed``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataIntegrityError
from ..tasks import PromptBatch, task_from_spec


@dataclass
class PromptSet:
    """All evaluation prompts of a task, as one ``PromptBatch`` held in memory on CPU."""

    prompts: PromptBatch
    meta: dict

    @property
    def n_prompts(self) -> int:
        return self.prompts.xs.shape[0]

    @property
    def n_points(self) -> int:
        return self.prompts.xs.shape[1]

    def batches(self, batch_size: int, device: torch.device | str = "cpu"):
        for i in range(0, self.n_prompts, batch_size):
            yield self.prompts[i : i + batch_size].to(device)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def generate_prompt_set(spec: dict, chunk: int = 64) -> PromptSet:
    """Draw ``spec['n_prompts']`` prompts at full dimension on CPU from ``spec['seed']``.

    Drawn in chunks of 64 (one evaluation batch, a fresh function per prompt) from one generator,
    so the set does not depend on the machine.
    """
    task = task_from_spec(spec["task"])
    gen = torch.Generator().manual_seed(spec["seed"])
    chunks = []
    for start in range(0, spec["n_prompts"], chunk):
        n = min(chunk, spec["n_prompts"] - start)
        chunks.append(task.sample(n, spec["n_points"], gen))
    first = chunks[0]
    prompts = PromptBatch(
        torch.cat([c.xs for c in chunks]),
        torch.cat([c.ys for c in chunks]),
        None if first.mask is None else torch.cat([c.mask for c in chunks]),
        {k: torch.cat([c.extra[k] for c in chunks]) for k in first.extra},
    )
    meta = {"spec": spec, "normalizer": task.normalizer, "metric": task.metric}
    return PromptSet(prompts, meta)


def save_prompt_set(ps: PromptSet, path: str | Path, meta_path: str | Path) -> None:
    path, meta_path = Path(path), Path(meta_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    p = ps.prompts
    arrays = {"xs": p.xs.numpy(), "ys": p.ys.numpy()}
    if p.mask is not None:
        arrays["mask"] = p.mask.numpy()
    arrays.update({f"extra_{k}": v.numpy() for k, v in p.extra.items()})
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    meta = dict(ps.meta, sha256=sha256_file(path), shape=list(p.xs.shape))
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def load_prompt_set(path: str | Path, meta_path: str | Path) -> PromptSet:
    """Load a prompt set and verify its checksum; a mismatch names the file and how to rebuild it."""
    path, meta_path = Path(path), Path(meta_path)
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataIntegrityError(f"cannot read prompt-set metadata {meta_path} ({e}); delete it and rerun the workflow "
                                 "to regenerate the prompt set") from None
    actual = sha256_file(path)
    if actual != meta.get("sha256"):
        raise DataIntegrityError(
            f"{path} does not match the checksum in {meta_path} (corrupt or edited file). Delete both files and "
            "rerun the workflow to regenerate them; nothing else needs recomputing if the config is unchanged."
        )
    with np.load(path) as f:
        t = {k: torch.from_numpy(f[k]) for k in f.files}
    prompts = PromptBatch(t.pop("xs"), t.pop("ys"), t.pop("mask", None),
                          {k.removeprefix("extra_"): v for k, v in t.items()})
    return PromptSet(prompts, meta)
