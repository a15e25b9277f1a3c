"""Time one training step per backbone at paper size (device check phases `bench`, `fallback`, `kernels`).

The step is the trainer's loop body: sample a batch at the curriculum's final (longest) stage on a
generator on the device, predict under bf16 autocast or in fp32, the loss, the per-step isfinite check (a
host sync), zero_grad, backward, clipping where the job clips, Adam, the scheduler. Each (task, model,
precision, path) gives one JSON line, printed and appended to --out as soon as it is measured:
ms_per_step (the mean over the timed steps after warm-up), the peak GPU memory, and with --profile the GPU
kernels launched in one step and their summed time, plus the hours the config's step count would take.

Paths, for backbones with Mamba blocks (mamba, standard_hybrid, mambaformer):
  auto       mamba-ssm's kernels where they import, else the package's own scan
  kernels    the kernels; an error row if they are not available
  fallback   the package's own scan on the device (MambaMixer.use_kernels = False)
  fallback1  the own scan with its CPU-tuned 4 MB time chunks lifted (one chunk per sequence)
Other backbones run only under `auto`.

    python benchmarks/gpu/bench_steps.py --group plain --precisions fp32 bf16       # no Mamba blocks
    python benchmarks/gpu/bench_steps.py --group mamba --paths kernels fallback
    python benchmarks/gpu/bench_steps.py --pairs relu_nn:mamba_park --steps 50
    python benchmarks/gpu/bench_steps.py --list                                     # what would run
    python benchmarks/gpu/bench_steps.py --device cpu --tiny --steps 1              # a CPU smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "src"))  # the package without installing it (as PYTHONPATH=src)
sys.path.insert(0, str(HERE))

# One paper configuration per backbone (task:model of workflow/config/paper.yaml): the standard sizes of
# Grazzi et al. (12 x 256 GPT-2, 24 x 256 Mamba, 24 x 435 S4, 12 x 256 RWKV) and Park et al.'s small models.
BY_BACKBONE = {  # quick ones first: a phase cut at its time limit loses the slowest (RWKV's loop over time)
    "gpt2": "linear_regression:transformer",
    "s4_park": "relu_nn:s4_park",
    "s4_mamba": "relu_nn:s4_mamba",
    "s4": "linear_regression:s4",
    "rwkv": "linear_regression:rwkv",
    "mamba": "linear_regression:mamba",
    "standard_hybrid": "relu_nn:standard_hybrid",
    "mambaformer": "relu_nn:mambaformer",
}
MAMBA_BACKBONES = ("mamba", "standard_hybrid", "mambaformer")  # the backbones built with MambaMixer blocks
GROUPS = {
    "plain": [BY_BACKBONE[b] for b in BY_BACKBONE if b not in MAMBA_BACKBONES],
    "mamba": [BY_BACKBONE[b] for b in MAMBA_BACKBONES],
    "all": list(BY_BACKBONE.values()),
}
PATHS = ("auto", "kernels", "fallback", "fallback1")
PRECISIONS = ("fp32", "bf16")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    what = ap.add_mutually_exclusive_group()
    what.add_argument("--group", choices=sorted(GROUPS), default="all", help="one config per backbone (default all)")
    what.add_argument("--pairs", nargs="+", metavar="TASK:MODEL", help="configs of --config to time")
    ap.add_argument("--config", default=None, help="workflow config (default workflow/config/paper.yaml)")
    ap.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=["fp32", "bf16"])
    ap.add_argument("--paths", nargs="+", choices=PATHS, default=["auto"])
    ap.add_argument("--device", default=None, help="default: cuda where available, else cpu")
    ap.add_argument("--steps", type=int, default=10, help="timed steps (at most)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--max-seconds", type=float, default=8.0, help="stop timing a config after this long")
    ap.add_argument("--profile", action="store_true", help="count the GPU kernels of one step (torch.profiler)")
    ap.add_argument("--tiny", action="store_true", help="shrink models and batch (a CPU smoke test of this script)")
    ap.add_argument("--phase", default="bench", help="the `phase` field of the JSON lines")
    ap.add_argument("--barrier", default=None, help="after warm-up, write DIR/ready.PID and wait for DIR/go "
                    "(share_gpu.py starts the timed windows of several processes together)")
    ap.add_argument("--out", default=None, help="append JSON lines here (default $OUT/results.jsonl, else none)")
    ap.add_argument("--list", action="store_true", help="print the planned rows and exit")
    args = ap.parse_args(argv)
    args.pairs = args.pairs or GROUPS[args.group]
    for pair in args.pairs:
        if pair.count(":") != 1:
            ap.error(f"--pairs: '{pair}' is not TASK:MODEL")
    if args.out is None and os.environ.get("OUT"):
        args.out = str(Path(os.environ["OUT"]) / "results.jsonl")
    return args


def planned_rows(args: argparse.Namespace, backbone_of) -> list[dict]:
    """(pair, precision, path) combinations that run: bf16 needs CUDA, non-auto paths need Mamba blocks."""
    rows = []
    for pair in args.pairs:
        backbone = backbone_of(pair)
        for precision in args.precisions:
            if precision == "bf16" and args.device == "cpu":
                continue
            for path in args.paths:
                if path != "auto" and backbone not in MAMBA_BACKBONES:
                    continue
                rows.append({"pair": pair, "backbone": backbone, "precision": precision, "path": path})
    return rows


def emit(row: dict, out: str | None) -> None:
    line = json.dumps(row)
    print(line, flush=True)
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")


def wait_at_barrier(barrier: str, timeout: float = 180.0) -> float:
    """Announce readiness, then wait for the go file; returns the seconds waited."""
    d = Path(barrier)
    (d / f"ready.{os.getpid()}").touch()
    t0 = time.time()
    while not (d / "go").exists():
        if time.time() - t0 > timeout:
            raise TimeoutError(f"no {d / 'go'} after {timeout:.0f} s")
        time.sleep(0.01)
    return time.time() - t0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from paper_specs import PAPER, final_stage, job_spec, load_config

    from mambaicl.models import build_model
    from mambaicl.models import mamba as mamba_mod
    from mambaicl.tasks import task_from_spec

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(args.device)
    config = load_config(args.config or PAPER)

    def spec_of(pair: str) -> dict:
        task, model = pair.split(":")
        spec = job_spec(config, task, model, 1)
        if args.tiny:
            spec["model"].update(d_model=32, n_layer=2)
            spec["batch_size"] = 4
        return spec

    rows = planned_rows(args, lambda pair: spec_of(pair)["model"]["backbone"])
    if args.list:
        for row in rows:
            print(json.dumps(row))
        return 0
    if dev.type == "cuda":  # as the workflow's jobs (mambaicl.device.configure_torch): TF32 matmuls allowed
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def make_step(spec: dict, precision: str, path: str):
        task = task_from_spec(spec["task"])
        n_dims, n_points = final_stage(spec["curriculum"], spec["steps"])
        model = build_model(spec["model"], task.token_dim, seed=1, out_dim=task.out_dim).to(dev)
        mixers = [m for m in model.modules() if isinstance(m, mamba_mod.MambaMixer)]
        for m in mixers:
            m.use_kernels = path in ("auto", "kernels")
        mamba_mod._SelectiveScanFn.chunk_bytes = (1 << 40) if path == "fallback1" else (4 << 20)
        opt = torch.optim.Adam(model.parameters(), lr=spec["model"]["learning_rate"], betas=(0.9, 0.999))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
        gen = torch.Generator(device=dev).manual_seed(10_001)
        autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16")

        def step():
            batch = task.sample(spec["batch_size"], n_points, gen, n_dims_active=n_dims)
            with autocast:
                preds = model.predict(task, batch)
            loss = task.loss(preds.float(), batch)
            if not torch.isfinite(loss):
                raise FloatingPointError("non-finite loss")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if spec.get("grad_clip"):
                torch.nn.utils.clip_grad_norm_(model.parameters(), spec["grad_clip"])
            opt.step()
            sched.step()
            return loss

        tokens = task.tokens(task.sample(1, n_points, torch.Generator(device=dev).manual_seed(0))).shape[1]
        return step, model, tokens, len(mixers)

    def count_kernels(step) -> dict:
        from torch.profiler import ProfilerActivity, profile

        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
        with profile(activities=acts) as prof:
            step()
            sync()
        events = prof.events()
        if dev.type == "cuda":
            gpu = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
            return {"gpu_kernels_per_step": len(gpu),
                    "gpu_busy_ms": round(sum(e.device_time for e in gpu) / 1e3, 3)}
        return {"cpu_aten_ops_per_step": sum(1 for e in events if e.name.startswith("aten::"))}

    for plan in rows:
        spec = spec_of(plan["pair"])
        row = {"phase": args.phase, **plan, "device": str(dev), "tiny": args.tiny,
               "kernels_available": mamba_mod.kernels_available(), "batch_size": spec["batch_size"]}
        step = None
        try:
            if plan["path"] == "kernels" and not mamba_mod.kernels_available():
                raise RuntimeError("mamba-ssm / causal-conv1d kernels not available")
            step, model, row["tokens"], row["mamba_blocks"] = make_step(spec, plan["precision"], plan["path"])
            row["on_kernels"] = bool(row["mamba_blocks"]) and plan["path"] in ("auto", "kernels") \
                and dev.type == "cuda" and mamba_mod.kernels_available()
            row["params"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
            t0 = time.perf_counter()
            for _ in range(args.warmup):
                step()
            sync()
            row["warmup_s"] = round(time.perf_counter() - t0, 3)
            if args.barrier:
                row["barrier_wait_s"] = round(wait_at_barrier(args.barrier), 3)
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            n, t0 = 0, time.perf_counter()
            while n < args.steps and time.perf_counter() - t0 < args.max_seconds:
                loss = step()
                n += 1
            sync()
            dt = time.perf_counter() - t0
            row.update(steps_timed=n, seconds_timed=round(dt, 3), ms_per_step=round(1e3 * dt / n, 3),
                       loss=round(loss.item(), 6))
            row["hours_for_config_steps"] = round(row["ms_per_step"] * spec["steps"] / 3.6e6, 2)
            if dev.type == "cuda":
                row["peak_mem_gib"] = round(torch.cuda.max_memory_allocated(dev) / 2**30, 3)
            if args.profile:
                try:
                    row.update(count_kernels(step))
                except Exception as e:  # noqa: BLE001 - the profiler may be unavailable; the timing stands
                    row["profile_error"] = f"{type(e).__name__}: {str(e)[:200]}"
        except Exception as e:  # noqa: BLE001 - record and go on to the next row
            row["error"] = f"{type(e).__name__}: {str(e)[:300]}"
        emit(row, args.out)
        del step
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
