"""Which runs train together as one pack (``train.pack``; the loop is ``training.pack``), decided from the config
at workflow parse time, and the config checks of the key.

Runs pack together when one vmapped forward can serve them all: the same model spec except the learning rate
(each run keeps its own Adam and schedule), the same token layout (token width, read-out width and the task
class's token sequence), the same curriculum, steps, batch size and precision, and the same logging and
checkpoint steps (the pack logs and checkpoints all its runs at once). Seeds, learning rates, schedules,
gradient clipping and the task's own sampling parameters may differ. ``plan_packs`` groups the config's runs
(``config.iter_runs`` order) by that key and cuts each group into packs of at most ``train.pack`` runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..config.runs import iter_runs, train_spec
from ..errors import ConfigError


@dataclass(frozen=True)
class Pack:
    """Runs (task, model, seed) trained by one job, in config order."""

    runs: tuple[tuple[str, str, int], ...]

    @property
    def label(self) -> str:
        return ", ".join(f"{t}/{m}/seed{s}" for t, m, s in self.runs)


def pack_key(spec: dict) -> str:
    """What runs must share to be packed (see the module doc), as a canonical string."""
    from ..tasks import task_from_spec  # here: the key needs a task instance (torch), the checks do not

    task = task_from_spec(spec["task"])
    layout = {"token_dim": task.token_dim, "out_dim": task.out_dim,
              "tokens": type(task).tokens.__qualname__, "predictions": type(task).predictions.__qualname__}
    shared = {k: spec.get(k) for k in ("curriculum", "steps", "batch_size", "precision", "checkpoint_every",
                                       "log_every")}
    model = {k: v for k, v in spec["model"].items() if k != "learning_rate"}
    return json.dumps({"model": model, "layout": layout, **shared}, sort_keys=True)


def check_packable(specs: list[dict]) -> None:
    """Refuse a pack whose runs differ in anything but what a pack lets differ (``ValueError``)."""
    keys = [pack_key(s) for s in specs]
    if len(set(keys)) > 1:
        raise ValueError("these runs cannot share a pack: their model spec (besides learning_rate), token layout, "
                         "curriculum, steps, batch size, precision or logging/checkpoint steps differ")


def plan_packs(config: dict) -> list[Pack]:
    """The config's runs in packs of at most ``train.pack`` (default 1: every run its own pack), grouped by
    ``pack_key``, in config order (a pack sits where its first run is)."""
    size = config["train"].get("pack", 1)
    groups: dict[str, list[tuple[str, str, int]]] = {}
    for task, model, seed in iter_runs(config):
        key = "" if size == 1 else pack_key(train_spec(config, task, model, seed))
        groups.setdefault(key, []).append((task, model, seed))
    packs = [Pack(tuple(g[i:i + size])) for g in groups.values() for i in range(0, len(g), size)]
    order = {run: i for i, run in enumerate(iter_runs(config))}
    return sorted(packs, key=lambda p: order[p.runs[0]])


def check_pack_config(config: dict) -> None:
    """``train.pack`` >= 1 (the schema says so too). Any scan can be packed: mamba-ssm's kernels too, one call per
    layer for all K runs (``models.packing.fold_runs``)."""
    size = config["train"].get("pack", 1)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"config error: 'train.pack' = {size!r} must be an integer >= 1 (1: one run per job)")
