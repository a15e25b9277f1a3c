"""Packing benchmark (train.pack): steps/s of a pack of K runs against K separate runs, on CPU.

Per backbone it trains K runs (seeds 1..K) for ``--steps`` steps twice: one after another with the unpacked
trainer (``training.loop.train``), and as one pack (``training.pack.train_pack``), both with the real trainer
(sampling, curriculum, Adam, metrics; checkpoints only at the end), single-threaded by default. It prints the
wall time of each and the speed-up: (time of the K separate runs) / (time of the pack). Above 1 the pack wins.
Each timing is the median of ``--repeats`` repetitions, after one warm-up run of a few steps.

    python benchmarks/bench_pack.py                                   # K 4, gpt2 s4 mamba, d_model 32, 2 layers
    python benchmarks/bench_pack.py --k 4 --only rwkv --steps 20 --threads 1
    python benchmarks/bench_pack.py --count-ops                       # ops per further run of a pack (no timing)

``--count-ops`` profiles one packed step (``pack.open_pack``) at K = 1 and K and prints the ops that run a kernel
(leaf aten ops, views, allocations and scalar reads left out) per further run, outside and inside the optimiser's
step: what ``analysis.step_model.PER_RUN_KERNELS`` assumes on a GPU (where Adam is fused: one or two launches per
run, while the CPU's Adam runs a few ops per parameter).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch

from mambaicl.analysis import fusion
from mambaicl.training.loop import train
from mambaicl.training.pack import train_pack

MODELS = {
    "gpt2": {"backbone": "gpt2", "n_head": 2},
    "s4": {"backbone": "s4", "d_state": 16, "dropout": 0.1},
    "mamba": {"backbone": "mamba", "d_state": 16},
    "rwkv": {"backbone": "rwkv", "ffn_mult": 4},
    "s4_park": {"backbone": "s4_park", "d_state": 16},
}


def spec_for(model: dict, d_model: int, n_layer: int, steps: int, points: int, batch: int, seed: int) -> dict:
    return {
        "task": {"name": "linear_regression", "n_dims": 5},
        "curriculum": {"dims": {"start": 5, "end": 5}, "points": {"start": points, "end": points}},
        "model": {**model, "d_model": d_model, "n_layer": n_layer, "learning_rate": 1e-3},
        "seed": seed, "steps": steps, "batch_size": batch, "schedule": "cosine", "grad_clip": None,
        "checkpoint_every": steps, "log_every": steps,
    }


def _paths(root: Path, k: int):
    return ([root / f"r{i}/model.pt" for i in range(k)], [root / f"r{i}/metrics.csv" for i in range(k)],
            [root / f"r{i}/ckpt" for i in range(k)])


def time_separate(specs: list[dict]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for s, m, c, d in zip(specs, *_paths(Path(tmp), len(specs))):
            train(s, m, c, d, progress=False)
        return time.perf_counter() - t0


def time_pack(specs: list[dict]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        train_pack(specs, *_paths(Path(tmp), len(specs)), progress=False)
        return time.perf_counter() - t0


def kernel_ops(step, n_dims: int, n_points: int) -> tuple[int, int]:
    """(ops outside the optimiser step, ops inside it) of one packed step that would run a kernel."""
    from torch.profiler import ProfilerActivity, profile

    step(n_dims, n_points)  # warm: Adam's state exists, as in every later step
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step(n_dims, n_points)
    counts = [0, 0]
    for e in prof.events():
        if e.name.startswith("aten::") and not e.cpu_children and e.name not in fusion.NO_KERNEL:
            parent, in_opt = e.cpu_parent, False
            while parent is not None and not in_opt:
                in_opt, parent = parent.name.startswith("Optimizer.step"), parent.cpu_parent
            counts[in_opt] += 1
    return counts[0], counts[1]


def count_ops(args) -> None:
    from mambaicl.training.pack import open_pack

    print(f"ops that run a kernel per packed step (CPU profile), K = 1 and {args.k}; per further run: (K-run - 1-run) "
          f"/ {args.k - 1}")
    print(f"{'backbone':10s} {'K=1 step':>9s} {'optimiser':>10s} {f'K={args.k} step':>9s} {'optimiser':>10s} "
          f"{'per run':>8s} {'optimiser':>10s}")
    for name in args.only:
        row = []
        for k in (1, args.k):
            specs = [spec_for(copy.deepcopy(MODELS[name]), args.d_model, args.n_layer, args.steps, args.points,
                              args.batch, seed) for seed in range(1, k + 1)]
            step = open_pack(specs, "cpu")
            row += kernel_ops(step, specs[0]["task"]["n_dims"], args.points)
            step.close()
        per = [(row[2] - row[0]) / (args.k - 1), (row[3] - row[1]) / (args.k - 1)]
        print(f"{name:10s} {row[0]:9d} {row[1]:10d} {row[2]:9d} {row[3]:10d} {per[0]:8.1f} {per[1]:10.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--only", nargs="+", default=["gpt2", "s4", "mamba"], choices=list(MODELS))
    ap.add_argument("--d-model", type=int, default=32)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--points", type=int, default=11, help="(x, y) pairs per prompt: 2 * points tokens")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--count-ops", action="store_true", help="count the ops per further run instead of timing")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.count_ops:
        if args.k < 2:
            ap.error("--count-ops needs --k 2 or more")
        return count_ops(args)
    print(f"K={args.k} runs, d_model {args.d_model}, {args.n_layer} layers, batch {args.batch}, "
          f"{2 * args.points} tokens, {args.steps} steps, {args.threads} thread(s), median of {args.repeats}")
    print(f"{'backbone':10s} {'separate s':>11s} {'pack s':>8s} {'sep steps/s':>12s} {'pack steps/s':>13s} {'speed-up':>9s}")
    import contextlib
    import io

    for name in args.only:
        specs = [spec_for(copy.deepcopy(MODELS[name]), args.d_model, args.n_layer, args.steps, args.points,
                          args.batch, seed) for seed in range(1, args.k + 1)]
        warm = [dict(s, steps=2, checkpoint_every=2, log_every=2) for s in specs]
        with contextlib.redirect_stdout(io.StringIO()):  # the trainers' log lines
            time_separate(warm), time_pack(warm)
            sep = statistics.median(time_separate(specs) for _ in range(args.repeats))
            pack = statistics.median(time_pack(specs) for _ in range(args.repeats))
        # steps/s counts run-steps: K runs x steps each
        n = args.k * args.steps
        print(f"{name:10s} {sep:11.2f} {pack:8.2f} {n / sep:12.2f} {n / pack:13.2f} {sep / pack:9.2f}x")


if __name__ == "__main__":
    main()
