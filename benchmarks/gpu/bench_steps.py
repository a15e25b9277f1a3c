"""Time one training step per backbone at paper size (device check phases `bench`, `fallback`, `kernels`,
`triton`, `pack`, `compile`).

The step is the trainer's loop body on the trainer's setup (training.loop.build_run: seed, scan, the device's
fused ops, Adam fused on CUDA, the schedule): sample a batch at the curriculum's final (longest) stage on a
generator on the device, predict under bf16 autocast or in fp32, the loss, the non-finite flag kept on the
device as the trainer keeps it (read once, after the timed steps: no per-step host sync), zero_grad, backward,
clipping where the job clips, Adam, the scheduler. Each (task, model, precision, path) gives one JSON line,
printed and appended to --out as soon as it is measured: ms_per_step (the mean over the timed steps after
warm-up), the peak GPU memory, and with --profile the GPU kernels launched in one step and their summed time,
plus the hours the config's step count would take. (Until 2026-12-01 the step checked the loss on the host
every step and ran neither the fused ops nor fused Adam: earlier records are somewhat slower for that.)

With --pack K [K ...], each (task, model, precision, path) is instead timed as packs of K runs of the config
(seeds 1..K) trained as one vmapped step, the trainer's own packed step (mambaicl.training.pack.PackedStep):
ms_per_step is one pack step (K runs' steps), ms_per_run_step = ms_per_step / K, the K losses in `losses`.

With --compile MODE [MODE ...] (train.compile: eager, fused, graphs), each row is also timed with the step's
forward and loss compiled as the trainer compiles them (mambaicl.training.compile; graphs: CUDA only): the
compilation happens in the warm-up steps (warmup_s), one graph for the curriculum's final shape.

Paths (the config's `scan`, recorded in each row with what the blocks then run, `impl`):
  auto       scan: auto: mamba-ssm's kernels where they import, else the package's Triton kernels on CUDA
  kernels    scan: kernels (Mamba blocks); an error row if they are not available
  triton     scan: triton: the package's Triton scan (Mamba blocks) and WKV (RWKV blocks)
  fallback   scan: torch, the package's own PyTorch scan on the device (on CUDA one time chunk per sequence up
             to 1 GiB per work buffer)
  fallback1  the own scan with no cap on its time chunks (one chunk per sequence at any length)
triton runs the backbones with Mamba or RWKV blocks, the other non-auto paths those with Mamba blocks; the
rest run only under `auto`.

    python benchmarks/gpu/bench_steps.py --group plain --precisions fp32 bf16       # no Mamba blocks
    python benchmarks/gpu/bench_steps.py --group mamba --paths kernels fallback
    python benchmarks/gpu/bench_steps.py --pairs relu_nn:mamba_park --steps 50
    python benchmarks/gpu/bench_steps.py --group all --precisions fp32 --pack 1 4 8 --profile
    python benchmarks/gpu/bench_steps.py --pairs linear_regression:mamba --compile eager fused graphs --pack 1 8
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

from jsonl import default_out, emit  # noqa: E402 - after the path is set

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
TRITON_BACKBONES = (*MAMBA_BACKBONES, "rwkv")  # the backbones with blocks the package has Triton kernels for
GROUPS = {
    "plain": [BY_BACKBONE[b] for b in BY_BACKBONE if b not in MAMBA_BACKBONES],
    "mamba": [BY_BACKBONE[b] for b in MAMBA_BACKBONES],
    "all": list(BY_BACKBONE.values()),
}
PATHS = ("auto", "kernels", "triton", "fallback", "fallback1")
SCAN_OF = {"auto": "auto", "kernels": "kernels", "triton": "triton", "fallback": "torch", "fallback1": "torch"}
PRECISIONS = ("fp32", "bf16")
COMPILE = ("eager", "fused", "graphs")  # train.compile (mambaicl.training.compile.COMPILE_MODES)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    what = ap.add_mutually_exclusive_group()
    what.add_argument("--group", choices=sorted(GROUPS), default="all", help="one config per backbone (default all)")
    what.add_argument("--pairs", nargs="+", metavar="TASK:MODEL", help="configs of --config to time")
    ap.add_argument("--config", default=None, help="workflow config (default workflow/config/paper.yaml)")
    ap.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=["fp32", "bf16"])
    ap.add_argument("--paths", nargs="+", choices=PATHS, default=["auto"])
    ap.add_argument("--compile", nargs="+", choices=COMPILE, default=["eager"],
                    help="train.compile modes to time each row under (default eager; graphs needs CUDA)")
    ap.add_argument("--device", default=None, help="default: cuda where available, else cpu")
    ap.add_argument("--steps", type=int, default=10, help="timed steps (at most)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--max-seconds", type=float, default=8.0, help="stop timing a config after this long")
    ap.add_argument("--profile", action="store_true", help="count the GPU kernels of one step (torch.profiler)")
    ap.add_argument("--tiny", action="store_true", help="shrink models and batch (a CPU smoke test of this script)")
    ap.add_argument("--pack", nargs="+", type=int, metavar="K", default=None,
                    help="time packs of K runs (seeds 1..K) with the trainer's packed step instead of one run")
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
    if args.pack and min(args.pack) < 1:
        ap.error("--pack: every K must be >= 1")
    args.out = args.out or default_out()
    return args


def planned_rows(args: argparse.Namespace, backbone_of) -> list[dict]:
    """(pair, precision, path, compile[, pack_k]) combinations that run: bf16 and graphs need CUDA, triton needs
    Mamba or RWKV blocks, the other non-auto paths Mamba blocks; with --pack, one row per K."""
    rows = []
    for pair in args.pairs:
        backbone = backbone_of(pair)
        for precision in args.precisions:
            if precision == "bf16" and args.device == "cpu":
                continue
            for path in args.paths:
                if path != "auto" and backbone not in (TRITON_BACKBONES if path == "triton" else MAMBA_BACKBONES):
                    continue
                for mode in args.compile:
                    if mode == "graphs" and args.device == "cpu":
                        continue
                    row = {"pair": pair, "backbone": backbone, "precision": precision, "path": path, "compile": mode}
                    rows += [{**row, "pack_k": k} for k in args.pack] if args.pack else [row]
    return rows


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

    from paper_specs import (PAPER, begin_step, build_run, compile_step, final_stage, forward_loss_fn, job_spec,
                             load_config, open_pack)

    from mambaicl.models import mamba as mamba_mod
    from mambaicl.models.implementation import kernels_available, resolve_scan, resolve_wkv
    from mambaicl.tasks import task_from_spec

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(args.device)
    config = load_config(args.config or PAPER)

    def spec_of(pair: str, seed: int = 1, precision: str = "fp32") -> dict:
        task, model = pair.split(":")
        spec = job_spec(config, task, model, seed)
        if args.tiny:
            spec["model"].update(d_model=32, n_layer=2)
            spec["batch_size"] = 4
        if precision != "fp32":
            spec["precision"] = precision
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

    def blocks(model) -> dict:
        """What the model's Mamba and RWKV blocks run under its scan choice (kernels / triton / torch)."""
        kinds = [getattr(m, "scan_kind", None) for m in model.modules()]
        out = {"mamba_blocks": kinds.count("Mamba"), "rwkv_blocks": kinds.count("RWKV")}
        scan = next((m.scan for m in model.modules() if getattr(m, "scan_kind", None)), None)
        impl = []
        if out["mamba_blocks"]:
            impl.append(f"mamba:{resolve_scan(scan, dev)}")
        if out["rwkv_blocks"]:
            impl.append(f"rwkv:{resolve_wkv(scan, dev)}")
        out["impl"] = " ".join(impl) or None
        out["on_kernels"] = "mamba:kernels" in impl
        return out

    # Each step ORs its losses' non-finite flags into `bad` on the device, as the trainer does (read after timing).
    bad = torch.zeros((), dtype=torch.bool, device=dev)

    def make_step(pair: str, precision: str, path: str, mode: str):
        spec = spec_of(pair, 1, precision)
        n_dims, n_points = final_stage(spec["curriculum"], spec["steps"])
        run = build_run(spec, dev, SCAN_OF[path], log=False)  # a scan that cannot run: ConfigError naming the install
        task, model, opt, sched = run.task, run.model.train(), run.opt, run.sched
        forward_loss = compile_step(forward_loss_fn(run, dev), mode, dev, shapes=1)  # the trainer's step, compiled

        def step():
            nonlocal bad
            batch = task.sample(spec["batch_size"], n_points, run.data_gen, n_dims_active=n_dims)
            begin_step(mode)
            loss = forward_loss(batch)
            bad = bad | ~torch.isfinite(loss.detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if spec.get("grad_clip"):
                torch.nn.utils.clip_grad_norm_(model.parameters(), spec["grad_clip"])
            opt.step()
            sched.step()
            return loss.detach().clone().reshape(1)  # a copy: a CUDA graph's next replay overwrites its output

        return step, [model]

    def make_pack_step(pair: str, precision: str, path: str, mode: str, k: int):
        specs = [spec_of(pair, seed, precision) for seed in range(1, k + 1)]
        n_dims, n_points = final_stage(specs[0]["curriculum"], specs[0]["steps"])
        packed = open_pack(specs, dev, SCAN_OF[path], compile_mode=mode)  # the trainer's packed step, no files

        def step():
            nonlocal bad
            losses = packed(n_dims, n_points)[0]  # the K losses (K,), on the device
            bad = bad | ~torch.isfinite(losses).all()
            return losses

        return step, [r.model for r in packed.runs]

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

    chunk_defaults = (mamba_mod._SelectiveScanFn.chunk_bytes, mamba_mod._SelectiveScanFn.chunk_bytes_cuda)
    for plan in rows:
        spec = spec_of(plan["pair"])
        k = plan.get("pack_k")
        row = {"phase": args.phase, **plan, "scan": SCAN_OF[plan["path"]], "device": str(dev), "tiny": args.tiny,
               "kernels_available": kernels_available(), "batch_size": spec["batch_size"]}
        step = models = None
        bad = torch.zeros((), dtype=torch.bool, device=dev)
        try:
            lifted = (1 << 40) if plan["path"] == "fallback1" else None  # no cap on the own scan's chunks at all
            mamba_mod._SelectiveScanFn.chunk_bytes = lifted or chunk_defaults[0]
            mamba_mod._SelectiveScanFn.chunk_bytes_cuda = lifted or chunk_defaults[1]
            compiling = plan["compile"] != "eager"
            if compiling:  # dynamo's counters of this row's compilation (read after the warm-up, which compiles)
                from torch._dynamo.utils import counters
                counters.clear()
            if k is None:
                step, models = make_step(plan["pair"], plan["precision"], plan["path"], plan["compile"])
            else:
                step, models = make_pack_step(plan["pair"], plan["precision"], plan["path"], plan["compile"], k)
            task = task_from_spec(spec["task"])
            n_points = final_stage(spec["curriculum"], spec["steps"])[1]
            row["tokens"] = task.tokens(task.sample(1, n_points, torch.Generator(device=dev).manual_seed(0))).shape[1]
            row.update(blocks(models[0]))
            row["params"] = sum(p.numel() for p in models[0].parameters() if p.requires_grad)
            t0 = time.perf_counter()
            for _ in range(args.warmup):
                step()
            sync()
            row["warmup_s"] = round(time.perf_counter() - t0, 3)
            if compiling:  # graph breaks (mamba-ssm's pybind kernels, say) split the step into more graphs
                row["graph_breaks"] = sum(counters["graph_break"].values())
                row["graphs"] = counters["stats"]["unique_graphs"]
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
            row.update(steps_timed=n, seconds_timed=round(dt, 3), ms_per_step=round(1e3 * dt / n, 3))
            if k is None:
                row["loss"] = round(loss.item(), 6)
            else:
                row["ms_per_run_step"] = round(row["ms_per_step"] / k, 3)
                row["losses"] = [round(v, 6) for v in loss.tolist()]
            if bool(bad):
                row["error"] = "FloatingPointError: a non-finite loss in the warm-up or timed steps"
            # one step, or one pack step (K runs' steps), for the config's step count
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
        del step, models
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
