"""The training stage's workflow job (``workflow/scripts/train.py``)."""

from __future__ import annotations

from ..config import spec_hash
from ..runtime import configure_torch, resolve_device
from .loop import train


def train_job(spec: dict, model_out: str, metrics_out: str, checkpoint_dir: str, device: str, threads: int,
              scan: str = "auto") -> None:
    dev = resolve_device(device)
    configure_torch(dev, threads)
    print(f"training {spec['model']['backbone']} on {spec['task']['name']} (seed {spec['seed']}, "
          f"spec {spec_hash(spec)}) on {dev}")
    train(spec, model_out, metrics_out, checkpoint_dir, device=dev, scan=scan)
