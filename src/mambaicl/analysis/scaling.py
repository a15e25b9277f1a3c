"""Cost of one forward pass against sequence length, per backbone: the papers' motivation for SSMs.

Attention's time and memory grow quadratically with the number of tokens, a state-space model's
linearly. ``measure_forward`` times a batch's forward pass (no gradients) and records its peak memory:
on CUDA the allocator's peak; on CPU the growth of the process's peak resident set during the pass
(after returning freed heap memory to the OS), which is what the pass needs on top of the weights.
"""

from __future__ import annotations

import ctypes
import gc
import resource
import statistics
import time

import pandas as pd
import torch
from tqdm import tqdm

from ..errors import ConfigError
from ..models import build_model
from ..runtime import configure_torch, resolve_device


def rss_kib() -> int:
    """Current resident set of this process, KiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def trim_and_reset_peak() -> bool:
    """Return freed heap memory to the OS and reset the peak-RSS mark; False where the reset is not allowed."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM, the peak resident set
        return True
    except OSError:
        return False


def peak_rss_kib(reset: bool) -> int:
    """Peak resident set since the last reset (or since process start if ``reset`` is False), KiB."""
    if reset:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@torch.no_grad()
def measure_forward(model_spec: dict, lengths: list[int], batch_size: int, token_dim: int,
                    device: torch.device, repeats: int = 5, seed: int = 0) -> pd.DataFrame:
    """Median forward time (s) over ``repeats`` timed passes after one untimed warm-up, with the fastest and
    slowest pass (one pass under load is noise: it made times fall with length), and peak extra memory (MiB)
    at each length; a length that fails with an out-of-memory error is recorded as NaN rather than aborting
    the sweep."""
    spec = dict(model_spec)
    if spec.get("positional_encoding") == "learned" or spec["backbone"] == "standard_hybrid":
        spec["max_tokens"] = max(lengths)  # a learned table sized for the sweep
    model = build_model(spec, token_dim=token_dim, seed=seed).to(device).eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    rows = []
    for length in lengths:
        tokens = torch.randn(batch_size, length, token_dim, generator=gen, device=device)
        try:
            model(tokens)  # warm-up (allocator, lazy init)
            times, peak = [], 0.0
            for _ in range(repeats):
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                    torch.cuda.reset_peak_memory_stats(device)
                    base = torch.cuda.memory_allocated(device)
                else:
                    reset = trim_and_reset_peak()
                    base = rss_kib() * 1024
                t0 = time.perf_counter()
                model(tokens)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                    used = torch.cuda.max_memory_allocated(device) - base
                else:
                    used = peak_rss_kib(reset) * 1024 - base
                times.append(time.perf_counter() - t0)
                peak = max(peak, used / 2**20)
            rows.append({"length": length, "seconds": statistics.median(times), "seconds_min": min(times),
                         "seconds_max": max(times), "repeats": repeats, "peak_mib": max(peak, 0.0)})
        except torch.OutOfMemoryError:
            rows.append({"length": length, "seconds": float("nan"), "seconds_min": float("nan"),
                         "seconds_max": float("nan"), "repeats": repeats, "peak_mib": float("nan")})
        del tokens
    df = pd.DataFrame(rows)
    df.insert(0, "params", model.effective_parameters())
    return df


def check_config(config: dict) -> None:
    """The ``scaling`` section's cross-field check."""
    sc = config["scaling"]
    if sc["d_model"] % sc["n_head"]:
        raise ConfigError(f"config error: 'scaling': d_model {sc['d_model']} is not divisible by n_head {sc['n_head']}")


# --------------------------------------------------------------------------------------------
# Workflow job (workflow/scripts/forward_scaling.py)


def forward_scaling_job(scaling: dict, device: str, out_csv: str) -> None:
    dev = resolve_device(device)
    configure_torch(dev, scaling.get("threads"))
    frames = []
    for backbone in tqdm(scaling["backbones"], desc="backbones"):
        spec = {"backbone": backbone, "d_model": scaling["d_model"], "n_layer": scaling["n_layer"]}
        if backbone in ("gpt2", "standard_hybrid", "mambaformer"):
            spec["n_head"] = scaling["n_head"]
        df = measure_forward(spec, scaling["lengths"], scaling["batch_size"], scaling["token_dim"], dev,
                             scaling.get("repeats", 5))
        df.insert(0, "backbone", backbone)
        frames.append(df)
        print(df.to_string(index=False))
    out = pd.concat(frames)
    out["device"] = str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev)
    out["batch_size"] = scaling["batch_size"]
    out.to_csv(out_csv, index=False)
