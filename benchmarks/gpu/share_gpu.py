"""Several trainings sharing one GPU against one alone (device check phase `share`).

For each count N, N processes of bench_steps.py time the same paper configuration: each warms up, waits
at a barrier until all N are ready, then steps for the same window of --seconds. The aggregate
throughput (the sum of each process's steps per second) over N shows what running N training jobs at
once on the GPU (`snakemake --resources gpu_slots=N`) gains over one at a time. One JSON line per
(configuration, N) goes to --out; each process's own row stays in --work.

    python benchmarks/gpu/share_gpu.py --pairs linear_regression:mamba --counts 1 8 --seconds 8
    python benchmarks/gpu/share_gpu.py --list
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling jsonl module
from jsonl import default_out, emit  # noqa: E402
ROUND_OVERHEAD_S = 25.0  # process start, CUDA init, model build and warm-up before the timed window


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--pairs", nargs="+", default=["linear_regression:mamba", "linear_regression:transformer"],
                    metavar="TASK:MODEL", help="paper configurations (one round of --counts each)")
    ap.add_argument("--counts", nargs="+", type=int, default=[1, 8], help="processes at once")
    ap.add_argument("--seconds", type=float, default=8.0, help="timed window per round")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--tiny", action="store_true", help="tiny models (a CPU smoke test of this script)")
    ap.add_argument("--until", type=float, default=None,
                    help="epoch time: skip rounds that would not end before it (ROUND_OVERHEAD_S + --seconds each)")
    ap.add_argument("--work", default=None, help="per-process outputs (default a temporary folder)")
    ap.add_argument("--out", default=None, help="append JSON lines here (default $OUT/results.jsonl, else none)")
    ap.add_argument("--list", action="store_true", help="print the planned rounds and exit")
    args = ap.parse_args(argv)
    if any(n < 1 for n in args.counts):
        ap.error("--counts must be positive")
    args.out = args.out or default_out()
    return args


def run_round(pair: str, n: int, args: argparse.Namespace, work: Path) -> dict:
    d = work / f"{pair.replace(':', '_')}_{n}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("OUT", None)  # the children write to their own files only
    procs = []
    for k in range(n):
        cmd = [sys.executable, str(HERE / "bench_steps.py"), "--pairs", pair, "--precisions", args.precision,
               "--paths", "auto", "--steps", "1000000", "--warmup", "3", "--max-seconds", str(args.seconds),
               "--phase", "share_process", "--barrier", str(d), "--out", str(d / f"proc{k}.jsonl")]
        cmd += ["--tiny"] if args.tiny else []
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(d / f"proc{k}.log", "w"),
                                      env=env))
    t0 = time.time()
    while len(list(d.glob("ready.*"))) < n and time.time() - t0 < 180 and any(p.poll() is None for p in procs):
        time.sleep(0.05)
    ready = len(list(d.glob("ready.*")))
    (d / "go").touch()
    for p in procs:
        try:
            p.wait(timeout=args.seconds + 120)
        except subprocess.TimeoutExpired:
            p.kill()
    rows = []
    for k in range(n):
        try:
            rows.append(json.loads((d / f"proc{k}.jsonl").read_text().splitlines()[-1]))
        except (OSError, IndexError, ValueError) as e:
            rows.append({"error": f"process {k} wrote no row ({type(e).__name__}); see {d / f'proc{k}.log'}"})
    ok = [r for r in rows if "ms_per_step" in r]
    return {"phase": "share", "pair": pair, "n_procs": n, "precision": args.precision, "ready": ready,
            "ok": len(ok), "on_kernels": any(r.get("on_kernels") for r in ok),
            "agg_steps_per_s": round(sum(1e3 / r["ms_per_step"] for r in ok), 2),
            "per_proc_ms": [r.get("ms_per_step") for r in rows],
            "errors": [r["error"] for r in rows if "error" in r][:3]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rounds = [(pair, n) for pair in args.pairs for n in args.counts]
    if args.list:
        for pair, n in rounds:
            print(json.dumps({"pair": pair, "n_procs": n, "seconds": args.seconds}))
        return 0
    work = Path(args.work or tempfile.mkdtemp(prefix="share_gpu_"))
    single = {}
    for pair, n in rounds:
        if args.until is not None and time.time() + ROUND_OVERHEAD_S + args.seconds > args.until:
            emit({"phase": "share", "pair": pair, "n_procs": n, "skipped": "not enough time left"}, args.out)
            continue
        row = run_round(pair, n, args, work)
        if n == 1 and row["ok"]:
            single[pair] = row["agg_steps_per_s"]
        if n > 1 and single.get(pair):
            row["speedup_vs_one"] = round(row["agg_steps_per_s"] / single[pair], 2)
        emit(row, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
