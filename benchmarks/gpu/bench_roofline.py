"""Measure the cost model's two assumptions on the device (device check phase `roofline`, about 20 s on a GPU).

The cost model (benchmarks/cost_model.py) charges every kernel of a training step max(floor, its roofline work),
with the matmuls at an assumed fraction of 400 TFLOP/s TF32 and the elementwise kernels at an assumed fraction
of the 4.3 TB/s device copy. This script measures both at the shapes a packed training step has:

  matmul       fp32 with TF32 allowed (as training runs): batched (K, B x T, d_in) @ (K, d_in, d_out) for the
               paper models' projections (d 128 and 256, 4 x d MLPs, B 64, T 82 and 202), K = 1 (one run) and
               K = 8 (a pack): achieved TFLOP/s and its fraction of 400.
  elementwise  an in-place multiply-add over 0.25 to 256 MB of fp32, back to back: GPU time per kernel (its
               floor at small sizes) and achieved bandwidth (read + write) at large ones.

One JSON line per measurement (phase `roofline`, `kind` matmul or elementwise), printed and appended to --out
(default $OUT/results.jsonl); the cost model reads them with --measured. GPU times come from CUDA events around
a loop of back-to-back launches (host launch time hidden), after warm-up.

    python benchmarks/gpu/bench_roofline.py                          # on the GPU host
    python benchmarks/gpu/bench_roofline.py --device cpu --tiny      # a CPU smoke test of this script
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling jsonl module
from jsonl import default_out, emit  # noqa: E402

TF32_FLOPS = 400e12  # the cost model's TF32 figure (mambaicl.analysis.cost.TF32_FLOPS)
MATMUL_SHAPES = [  # (d_in, d_out): projections of the paper models (d 256 standard, 128 Park's)
    (256, 768), (256, 1024), (1024, 256), (256, 256), (128, 512), (512, 128), (128, 128)]
ROWS = (64 * 82, 64 * 202)  # batch 64 x the tokens at the regression tasks' final length, and the nonlinear ones'
PACKS = (1, 8)
ELEMENTWISE_MB = (0.25, 1, 4, 16, 64, 256)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--device", default=None, help="default: cuda where available, else cpu")
    ap.add_argument("--tiny", action="store_true", help="small shapes and few repeats (a CPU smoke test)")
    ap.add_argument("--repeats", type=int, default=None, help="launches per timing (default 50; --tiny 2)")
    ap.add_argument("--out", default=None, help="append JSON lines here (default $OUT/results.jsonl, else none)")
    args, ignored = ap.parse_known_args(argv)  # the device check passes its BENCH_ARGS to every benchmark
    if ignored:
        print(f"bench_roofline.py: ignoring {' '.join(ignored)}", file=sys.stderr)
    args.out = args.out or default_out()
    args.repeats = args.repeats or (2 if args.tiny else 50)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    dev = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = dev.type == "cuda"
    if cuda:  # as the training jobs (mambaicl.runtime): fp32 matmuls on TF32 tensor cores
        torch.backends.cuda.matmul.allow_tf32 = True
    gen = torch.Generator(device=dev).manual_seed(0)

    def gpu_seconds(fn, repeats: int) -> float:
        """Seconds per call of ``fn`` over ``repeats`` back-to-back calls, after two warm-up calls."""
        fn(), fn()
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize(dev)
            start.record()
            for _ in range(repeats):
                fn()
            end.record()
            torch.cuda.synchronize(dev)
            return start.elapsed_time(end) / 1e3 / repeats
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        return (time.perf_counter() - t0) / repeats

    shapes = MATMUL_SHAPES[:2] if args.tiny else MATMUL_SHAPES
    rows_list = (64,) if args.tiny else ROWS
    base = {"phase": "roofline", "device": str(dev), "tiny": args.tiny}
    for rows in rows_list:
        for d_in, d_out in shapes:
            for k in PACKS:
                row = {**base, "kind": "matmul", "pack_k": k, "rows": rows, "d_in": d_in, "d_out": d_out,
                       "tf32": cuda}
                try:
                    a = torch.randn(k, rows, d_in, device=dev, generator=gen)
                    b = torch.randn(k, d_in, d_out, device=dev, generator=gen)
                    out = torch.empty(k, rows, d_out, device=dev)
                    s = gpu_seconds(lambda: torch.bmm(a, b, out=out), args.repeats)
                    flops = 2.0 * k * rows * d_in * d_out
                    row.update(us_per_kernel=round(s * 1e6, 3), tflops=round(flops / s / 1e12, 3),
                               fraction_of_tf32=round(flops / s / TF32_FLOPS, 4))
                except Exception as e:  # noqa: BLE001 - record and go on
                    row["error"] = f"{type(e).__name__}: {str(e)[:200]}"
                emit(row, args.out)
    for mb in ELEMENTWISE_MB[:2] if args.tiny else ELEMENTWISE_MB:
        row = {**base, "kind": "elementwise", "mbytes": mb}
        try:
            n = int(mb * 2**20 / 4)
            x = torch.randn(n, device=dev, generator=gen)
            y = torch.randn(n, device=dev, generator=gen)
            s = gpu_seconds(lambda: x.mul_(0.999).add_(y), args.repeats)  # two kernels: each reads 2 or 1, writes 1
            moved = (3 + 2) * n * 4
            row.update(us_per_kernel=round(s / 2 * 1e6, 3), gbps=round(moved / s / 1e9, 1))
        except Exception as e:  # noqa: BLE001
            row["error"] = f"{type(e).__name__}: {str(e)[:200]}"
        emit(row, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
