"""The device check's records and summary (benchmarks/gpu/device_check.sh calls it between phases).

Subcommands, each appending one JSON line to --results (except `summary`):
  env       the host: GPU, driver, CUDA, Python and package versions, cores, memory, carried wheels
  kernels   whether mamba-ssm and causal-conv1d import and mambaicl's kernel path is on
  pytest    counts and failures from a pytest log
  workflow  the short Snakemake run's outputs: steps, time per step and final loss per training, evaluations
  summary   render --results as Markdown (--out), readable when the run was cut short (the `pack` phase's rows
            as their own table: ms per pack step and per run step, speed-up per run against K = 1)

Standard library only, apart from what each probe imports on purpose (torch, mambaicl, numpy).
"""

from __future__ import annotations

import argparse
import csv
import importlib
import importlib.metadata as md
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ["torch", "triton", "numpy", "scipy", "pandas", "matplotlib", "seaborn", "pyyaml", "jsonschema",
            "scikit-learn", "transformers", "tqdm", "snakemake", "pytest", "einops", "huggingface-hub",
            "setuptools", "wheel", "ninja", "packaging", "mamba-ssm", "causal-conv1d", "xgboost"]
# what the workflow, the tests and the benchmarks import (xgboost: only the decision-tree baselines): found
# without importing them (quick), except the package itself, which is imported
NEEDED_MODULES = ["torch", "numpy", "scipy", "pandas", "matplotlib", "seaborn", "yaml", "jsonschema", "sklearn",
                  "transformers", "tqdm", "snakemake", "pytest", "einops", "triton"]
IMPORTED = ["mambaicl", "mambaicl.models", "mambaicl.tasks"]


def append(results: str, row: dict) -> None:
    row = {"time": round(time.time(), 1), **row}
    line = json.dumps(row, default=str)
    print(line, flush=True)
    with open(results, "a") as f:
        f.write(line + "\n")


def _run(cmd: list[str], timeout: float = 20) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return (out.stdout or out.stderr).strip()
    except (OSError, subprocess.SubprocessError) as e:
        return f"unavailable ({type(e).__name__})"


def env_row(prepared: str | None, work: str | None) -> dict:
    row: dict = {"phase": "env", "python": sys.version.split()[0], "executable": sys.executable,
                 "platform": platform.platform(), "cpus": os.cpu_count(),
                 "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}
    try:
        mem = Path("/proc/meminfo").read_text()
        row["mem_gib"] = round(int(re.search(r"MemTotal:\s+(\d+)", mem).group(1)) / 2**20, 1)
    except (OSError, AttributeError):
        pass
    if work:
        Path(work).mkdir(parents=True, exist_ok=True)
        row["work_disk_free_gib"] = round(shutil.disk_usage(work).free / 2**30, 1)
    row["nvidia_smi"] = _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                              "--format=csv,noheader"])
    row["nvcc"] = _run(["nvcc", "--version"]).splitlines()[-1:] or None
    row["nvcc_path"] = shutil.which("nvcc")
    row["cxx"] = _run(["g++", "--version"]).splitlines()[:1]
    import sysconfig

    # building the kernels needs the C++ compiler and Python's headers (a -dev package on Debian and Ubuntu)
    row["python_h"] = (Path(sysconfig.get_paths()["include"]) / "Python.h").exists()
    row["git_commit"] = _run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    row["versions"] = {}
    for name in PACKAGES:
        try:
            row["versions"][name] = md.version(name)
        except md.PackageNotFoundError:
            row["versions"][name] = None
    row["missing_imports"] = [mod for mod in NEEDED_MODULES if importlib.util.find_spec(mod) is None]
    for mod in IMPORTED:
        try:
            importlib.import_module(mod)
        except Exception as e:  # noqa: BLE001
            row["missing_imports"].append(f"{mod}: {type(e).__name__}: {str(e)[:120]}")
    try:
        import torch

        row["torch_cuda"] = torch.version.cuda
        row["cuda_available"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            row.update(gpu=props.name, capability=".".join(map(str, torch.cuda.get_device_capability(0))),
                       gpu_mem_gib=round(props.total_memory / 2**30, 1), sms=props.multi_processor_count,
                       gpus=torch.cuda.device_count())
    except Exception as e:  # noqa: BLE001
        row["torch_error"] = f"{type(e).__name__}: {e}"
    if prepared:
        manifest = Path(prepared) / "MANIFEST.json"
        if manifest.exists():
            m = json.loads(manifest.read_text())
            row["prepared"] = {"pins": m.get("pins"), "python_version": m.get("python_version"),
                               "total_mib": m.get("total_mib"), "files": len(m.get("files", {}))}
        else:
            row["prepared"] = f"no {manifest}"
    return row


def kernels_row() -> dict:
    row: dict = {"phase": "kernels_check"}
    try:  # the extensions link against torch's libraries (libc10.so): load torch first, as mamba-ssm does
        import torch  # noqa: F401
    except Exception as e:  # noqa: BLE001
        row["torch"] = f"{type(e).__name__}: {e}"
    for mod in ("selective_scan_cuda", "causal_conv1d_cuda", "mamba_ssm.ops.selective_scan_interface",
                "causal_conv1d"):
        try:
            importlib.import_module(mod)
            row[mod] = "ok"
        except Exception as e:  # noqa: BLE001
            row[mod] = f"{type(e).__name__}: {str(e)[:200]}"
    try:
        from mambaicl.models.mamba import kernels_available

        row["kernels_available"] = kernels_available()
    except Exception as e:  # noqa: BLE001
        row["kernels_available"] = f"{type(e).__name__}: {e}"
    return row


def pytest_row(log: str) -> dict:
    text = Path(log).read_text(errors="replace") if Path(log).exists() else ""
    row: dict = {"phase": "pytest", "log": Path(log).name}
    finals = re.findall(r"^=+ (.*) in ([\d.]+)s.*=+$", text, re.M)
    if finals:
        counts, seconds = finals[-1]
        row["seconds"] = float(seconds)
        for n, what in re.findall(r"(\d+) (\w+)", counts):
            row[what] = int(n)
    else:
        row["note"] = "no pytest summary line (cut short?)"
    row["failures"] = re.findall(r"^(?:FAILED|ERROR) (\S+)", text, re.M)[:20]
    row["skip_reasons"] = sorted(set(re.findall(r"^SKIPPED \[\d+\] [^:]+:\d+: (.*)$", text, re.M)))[:10]
    return row


def workflow_row(run_dir: str, log_dir: str, snakemake_log: str | None) -> dict:
    run, logs = Path(run_dir), Path(log_dir)
    row: dict = {"phase": "workflow", "trainings": {}, "evaluations": {}}
    for metrics in sorted(run.glob("models/*/*/seed*/train_metrics.csv")) + \
            sorted(run.glob("models/*/*/seed*/checkpoints/train_metrics.csv")):
        key = "/".join(metrics.relative_to(run / "models").parts[:3])
        if key in row["trainings"]:
            continue
        with open(metrics) as f:
            rows = list(csv.DictReader(f))
        if not rows:
            continue
        last = rows[-1]
        step, elapsed = int(last["step"]), float(last["elapsed_s"])
        row["trainings"][key] = {"last_logged_step": step, "elapsed_s": elapsed,
                                 "ms_per_step": round(1e3 * elapsed / max(step, 1), 2),
                                 "first_loss": float(rows[0]["loss"]), "last_loss": float(last["loss"]),
                                 "finished": (metrics.parent / "model.pt").exists()}
    for errors in sorted(run.glob("eval/*/*/seed*/errors.npy")):
        key = "/".join(errors.relative_to(run / "eval").parts[:3])
        try:
            import numpy as np

            e = np.load(errors)
            row["evaluations"][key] = {"shape": list(e.shape), "mean_error_first_point": float(e[..., 0].mean()),
                                       "mean_error_last_point": float(e[..., -1].mean())}
        except Exception as ex:  # noqa: BLE001
            row["evaluations"][key] = f"{type(ex).__name__}: {ex}"
    devices, implementations = {}, {}
    for log in sorted(logs.glob("**/*.log")):
        text = log.read_text(errors="replace")
        m = re.findall(r"\bon (cpu|cuda(?::\d+)?)\b", text)
        if m:
            devices[str(log.relative_to(logs))] = m[-1]
        impl = re.findall(r"^(?:WARNING )?implementation: (.*)$", text, re.M)
        if impl:
            implementations[str(log.relative_to(logs))] = impl[-1]
        if snakemake_log:
            with open(snakemake_log, "a") as f:
                f.write(f"\n===== {log} (last 40 lines) =====\n" + "\n".join(text.splitlines()[-40:]) + "\n")
    row["job_devices"] = devices
    row["job_implementations"] = implementations
    return row


# ---- summary ----------------------------------------------------------------------------------------------

def read_rows(results: str) -> list[dict]:
    rows = []
    if Path(results).exists():
        for line in Path(results).read_text(errors="replace").splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return rows


def _table(headers: list[str], lines: list[list]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join("" if v is None else str(v) for v in line) + " |" for line in lines]
    return out


def summary_text(rows: list[dict]) -> str:
    md_lines = ["# mambaicl GPU device check", ""]
    starts = [r for r in rows if r.get("phase") == "run" and r.get("event") == "start"]
    ends = [r for r in rows if r.get("event") == "phase_end"]
    if starts:
        s = starts[-1]
        md_lines.append(f"Started {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(s['time']))} UTC, phases "
                        f"{s.get('phases')}, deadline {s.get('deadline_s')} s.")
    done = [r for r in rows if r.get("phase") == "run" and r.get("event") == "end"]
    md_lines.append(f"Finished after {done[-1].get('elapsed_s')} s." if done else
                    "**Not finished** (cut short, or still running): what follows is what was recorded.")
    md_lines.append("")
    if ends:
        md_lines += ["## Phases", ""] + _table(
            ["phase", "status", "seconds", "ended at (s)"],
            [[r["name"], r.get("status"), r.get("seconds"), r.get("elapsed_s")] for r in ends]) + [""]
    for r in [r for r in rows if r.get("phase") == "env"][-1:]:
        v = r.get("versions", {})
        md_lines += ["## Environment", "",
                     f"- GPU: {r.get('gpu')} (capability {r.get('capability')}, {r.get('gpu_mem_gib')} GiB, "
                     f"{r.get('sms')} SMs); nvidia-smi: {r.get('nvidia_smi')}",
                     f"- Python {r.get('python')}, torch {v.get('torch')} (CUDA {r.get('torch_cuda')}), triton "
                     f"{v.get('triton')}, nvcc {r.get('nvcc')}, g++ {r.get('cxx')}, Python.h {r.get('python_h')}",
                     f"- CPUs {r.get('cpus')} ({r.get('cpus_usable')} usable), memory {r.get('mem_gib')} GiB, "
                     f"free disk {r.get('work_disk_free_gib')} GiB; commit {r.get('git_commit')}",
                     f"- snakemake {v.get('snakemake')}, jsonschema {v.get('jsonschema')}, pytest {v.get('pytest')}, "
                     f"einops {v.get('einops')}, transformers {v.get('transformers')}",
                     f"- missing imports: {r.get('missing_imports') or 'none'}", ""]
    builds = [r for r in rows if r.get("phase") == "build" and "package" in r]
    if builds:
        md_lines += ["## Kernel build", ""] + _table(
            ["package", "status", "seconds", "targets", "trimmed", "wheel MiB"],
            [[r["package"], r.get("status"), r.get("seconds"), r.get("archs"), r.get("trim"), r.get("wheel_mib")]
             for r in builds]) + [""]
    for r in [r for r in rows if r.get("phase") == "kernels_check"][-1:]:
        md_lines += [f"Kernels available to mambaicl: **{r.get('kernels_available')}** "
                     f"(selective_scan_cuda: {r.get('selective_scan_cuda')}; causal_conv1d_cuda: "
                     f"{r.get('causal_conv1d_cuda')}; mamba_ssm: {r.get('mamba_ssm.ops.selective_scan_interface')})", ""]
    steps = [r for r in rows if r.get("phase") in ("bench", "fallback", "kernels", "triton") and "pack_k" not in r]
    if steps:
        md_lines += ["## Training step at paper size", "",
                     "Batch 64 at the curriculum's final length; `h` = hours for the config's step count at this "
                     "speed, one run at a time; `runs on`: what the Mamba / RWKV blocks ran.", ""] + _table(
            ["phase", "backbone", "task:model", "prec", "path", "runs on", "on kernels", "tokens", "ms/step",
             "GPU kernels", "GPU busy ms", "peak GiB", "h", "error"],
            [[r["phase"], r.get("backbone"), r.get("pair"), r.get("precision"), r.get("path"), r.get("impl"),
              r.get("on_kernels"), r.get("tokens"), r.get("ms_per_step"), r.get("gpu_kernels_per_step"),
              r.get("gpu_busy_ms"), r.get("peak_mem_gib"), r.get("hours_for_config_steps"), r.get("error")]
             for r in steps]) + [""]
    md_lines += pack_table(rows, steps)
    md_lines += compile_table(rows)
    md_lines += roofline_table(rows)
    for r in [r for r in rows if r.get("phase") == "pytest"][-1:]:
        counts = ", ".join(f"{r[k]} {k}" for k in ("passed", "failed", "skipped", "error", "errors", "deselected")
                           if k in r)
        md_lines += ["## CUDA tests (`pytest -m cuda`)", "", f"{counts or r.get('note')} in {r.get('seconds')} s.",
                     f"Failures: {r.get('failures') or 'none'}. Skip reasons: {r.get('skip_reasons') or 'none'}.", ""]
    for r in [r for r in rows if r.get("phase") == "workflow"][-1:]:
        md_lines += ["## Short paper-config Snakemake run", ""]
        md_lines += _table(["training", "last logged step", "ms/step", "first loss", "last loss", "finished"],
                           [[k, t["last_logged_step"], t["ms_per_step"], t["first_loss"], t["last_loss"],
                             t["finished"]] for k, t in r.get("trainings", {}).items()])
        md_lines += ["", f"Evaluations: {json.dumps(r.get('evaluations'))}", f"Job devices: {r.get('job_devices')}",
                     f"Mamba blocks ran on: {r.get('job_implementations')}", ""]
    shares = [r for r in rows if r.get("phase") == "share"]
    if shares:
        md_lines += ["## Trainings sharing the GPU", ""] + _table(
            ["task:model", "processes", "ok", "on kernels", "steps/s (sum)", "vs one", "ms/step each", "note"],
            [[r.get("pair"), r.get("n_procs"), r.get("ok"), r.get("on_kernels"), r.get("agg_steps_per_s"),
              r.get("speedup_vs_one"), r.get("per_proc_ms"), r.get("skipped") or r.get("errors")] for r in shares]) + [""]
    return "\n".join(md_lines) + "\n"


def pack_table(rows: list[dict], unpacked: list[dict]) -> list[str]:
    """The `pack` rows: per backbone and K, one pack step, per run, the speed-up per run against K = 1 (the same
    pair, precision and path) and against the unpacked step of the same pair, precision and implementation."""
    packs = [r for r in rows if "pack_k" in r and r.get("phase") != "compile"]
    if not packs:
        return []

    def key(r: dict) -> tuple:
        return r.get("phase"), r.get("pair"), r.get("precision"), r.get("path")

    one = {key(r): r["ms_per_run_step"] for r in packs if r.get("pack_k") == 1 and r.get("ms_per_run_step")}
    alone = {(r.get("pair"), r.get("precision"), r.get("impl")): r["ms_per_step"] for r in unpacked
             if r.get("ms_per_step") and not r.get("error")}

    def ratio(a, b):
        return round(a / b, 2) if a and b else None

    lines = []
    for r in packs:
        per_run = r.get("ms_per_run_step")
        base = alone.get((r.get("pair"), r.get("precision"), r.get("impl")))
        lines.append([r.get("backbone"), r.get("pack_k"), r.get("precision"), r.get("impl") or r.get("path"),
                      r.get("ms_per_step"), per_run, ratio(one.get(key(r)), per_run), base, ratio(base, per_run),
                      r.get("gpu_kernels_per_step"), r.get("gpu_busy_ms"), r.get("peak_mem_gib"), r.get("error")])
    return ["## Packed training (train.pack)", "",
            "K runs of the paper config (seeds 1..K) as one vmapped step, the trainer's own (PackedStep): ms per "
            "pack step, per run step (/ K), the speed-up per run against K = 1 and against the unpacked step above "
            "(same task:model, precision and implementation; that step also syncs every step for its loss check).",
            ""] + _table(["backbone", "K", "prec", "runs on", "ms/pack step", "ms/run step", "speed-up/run vs K=1",
                          "unpacked ms/step", "vs unpacked", "GPU kernels", "GPU busy ms", "peak GiB", "error"],
                         lines) + [""]


def compile_table(rows: list[dict]) -> list[str]:
    """The `compile` rows (bench_steps.py --compile): per backbone and K, ms per step under train.compile eager,
    fused and graphs, the speed-ups against eager, the compilation time (the warm-up) and the loss agreement."""
    comp = [r for r in rows if r.get("phase") == "compile"]
    if not comp:
        return []
    by = {}
    for r in comp:
        by.setdefault((r.get("backbone"), r.get("pack_k"), r.get("precision"), r.get("impl")), {})[r.get("compile")] = r
    lines = []
    for (backbone, k, precision, impl), modes in by.items():
        eager = modes.get("eager", {})
        cells = []
        for mode in ("eager", "fused", "graphs"):
            r = modes.get(mode, {})
            ms = r.get("ms_per_step")
            speedup = round(eager["ms_per_step"] / ms, 2) if ms and eager.get("ms_per_step") and mode != "eager" else None
            cells += [ms, r.get("gpu_kernels_per_step")] + ([speedup, r.get("warmup_s")] if mode != "eager" else [])
        losses = [r.get("losses") or ([r["loss"]] if "loss" in r else None) for r in modes.values()]
        ref = eager.get("losses") or ([eager["loss"]] if "loss" in eager else None)
        diff = max((abs(a - b) for ls in losses if ls and ref for a, b in zip(ls, ref)), default=None)
        errors = "; ".join(f"{m}: {r['error'][:80]}" for m, r in modes.items() if r.get("error"))
        breaks = next((r["graph_breaks"] for m, r in modes.items() if m != "eager" and "graph_breaks" in r), None)
        lines.append([backbone, k or 1, precision, impl] + cells + [breaks, None if diff is None else float(f"{diff:.2g}"),
                                                                     errors or None])
    return ["## Compiled training step (train.compile)", "",
            "The trainer's step with its forward and loss through torch.compile: fused (inductor's kernels) and graphs "
            "(those replayed as CUDA graphs) against eager; ms per (pack) step, GPU kernels per step, speed-up against "
            "eager, compile s (the warm-up steps, compilation included), dynamo's graph breaks (each an untraced call "
            "between two graphs: mamba-ssm's pybind kernels, the own scan's loop) and the largest loss difference to "
            "eager.",
            ""] + _table(["backbone", "K", "prec", "runs on", "eager ms", "eager kernels", "fused ms", "fused kernels",
                          "fused speed-up", "fused compile s", "graphs ms", "graphs kernels", "graphs speed-up",
                          "graphs compile s", "graph breaks", "max loss diff", "error"], lines) + [""]


def roofline_table(rows: list[dict]) -> list[str]:
    """The `roofline` rows (bench_roofline.py): matmul TFLOP/s and elementwise floor and bandwidth."""
    mm = [r for r in rows if r.get("phase") == "roofline" and r.get("kind") == "matmul"]
    ew = [r for r in rows if r.get("phase") == "roofline" and r.get("kind") == "elementwise"]
    if not mm and not ew:
        return []
    out = ["## Roofline (the cost model's assumed efficiencies, measured)", "",
           "Matmuls: fp32 with TF32, (K, rows, d_in) @ (K, d_in, d_out), GPU time per kernel from CUDA events; the "
           "cost model assumes 50 % of 400 TFLOP/s and reads these rows with --measured.", ""]
    out += _table(["K", "rows", "d_in", "d_out", "us/kernel", "TFLOP/s", "of 400", "error"],
                  [[r.get("pack_k"), r.get("rows"), r.get("d_in"), r.get("d_out"), r.get("us_per_kernel"),
                    r.get("tflops"), r.get("fraction_of_tf32"), r.get("error")] for r in mm]) + [""]
    out += ["Elementwise kernels back to back (multiply, add; fp32): time per kernel, achieved read + write "
            "bandwidth (the cost model assumes 80 % of 4.3 TB/s).", ""]
    out += _table(["MB", "us/kernel", "GB/s", "error"],
                  [[r.get("mbytes"), r.get("us_per_kernel"), r.get("gbps"), r.get("error")] for r in ew]) + [""]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["env", "kernels", "pytest", "workflow", "summary"])
    ap.add_argument("--results", default=str(Path(os.environ.get("OUT", ".")) / "results.jsonl"))
    ap.add_argument("--out", help="summary: the Markdown file to write")
    ap.add_argument("--prepared", help="env: the prepared folder (its MANIFEST.json is recorded)")
    ap.add_argument("--work", help="env: the work folder (free disk is recorded)")
    ap.add_argument("--log", help="pytest: the log; workflow: the Snakemake log to append job logs to")
    ap.add_argument("--run-dir", default="results/gpu_check")
    ap.add_argument("--log-dir", default="logs/gpu_check")
    args = ap.parse_args(argv)
    if args.command == "summary":
        text = summary_text(read_rows(args.results))
        if args.out:
            tmp = Path(args.out).with_name(f".{Path(args.out).name}.tmp")
            tmp.write_text(text)
            os.replace(tmp, args.out)
        else:
            print(text)
        return 0
    row = {"env": lambda: env_row(args.prepared, args.work), "kernels": kernels_row,
           "pytest": lambda: pytest_row(args.log),
           "workflow": lambda: workflow_row(args.run_dir, args.log_dir, args.log)}[args.command]()
    append(args.results, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
