"""The training stage's workflow job (``workflow/scripts/train.py``)."""

from __future__ import annotations

from ..config import spec_hash
from ..runtime import configure_torch, resolve_device
from .loop import train
from .pack import train_pack


def train_job(spec: dict, model_out: str, metrics_out: str, checkpoint_dir: str, device: str, threads: int,
              scan: str = "auto", compile_mode: str = "eager") -> None:
    dev = resolve_device(device)
    configure_torch(dev, threads)
    print(f"training {spec['model']['backbone']} on {spec['task']['name']} (seed {spec['seed']}, "
          f"spec {spec_hash(spec)}) on {dev}")
    train(spec, model_out, metrics_out, checkpoint_dir, device=dev, scan=scan, compile_mode=compile_mode)


def train_pack_job(specs: list[dict], model_outs: list[str], metrics_outs: list[str], checkpoint_dirs: list[str],
                   device: str, threads: int, scan: str = "auto", compile_mode: str = "eager") -> None:
    """One pack of runs (``train.pack``): its membership and one line per run in the log, then ``train_pack``."""
    dev = resolve_device(device)
    configure_torch(dev, threads)
    print(f"training a pack of {len(specs)} runs on {dev}:")
    for spec, out in zip(specs, model_outs):
        print(f"  {spec['model']['backbone']} on {spec['task']['name']} (seed {spec['seed']}, lr "
              f"{spec['model']['learning_rate']}, spec {spec_hash(spec)}) -> {out}")
    train_pack(specs, model_outs, metrics_outs, checkpoint_dirs, device=dev, scan=scan, compile_mode=compile_mode)
