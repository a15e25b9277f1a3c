"""Start-up cost of a workflow job: a fresh Python importing its library module (what every Snakemake
`script:` job pays before it does any work), per job module, median of several fresh processes.

    python benchmarks/bench_job_startup.py [--repeats 5]

Prints seconds per module and the ratio to a bare interpreter; the report's many small jobs should stay
near the pandas-only cost (they do not import torch).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

MODULES = {
    "bare interpreter": "",
    "pandas alone": "import pandas",
    "torch alone": "import torch",
    "report.tables (table_* jobs)": "import mambaicl.report.tables",
    "report.figures (figure_* jobs)": "import mambaicl.report.figures",
    "report.sections (results_section)": "import mambaicl.report.sections",
    "report.macros (macros)": "import mambaicl.report.macros",
    "evaluation.jobs (evaluate_*, aggregate_*)": "import mambaicl.evaluation.jobs",
    "training.jobs (train)": "import mambaicl.training.jobs",
    "snakemake.script (every script job's preamble)": "import snakemake.script",
}


def startup_seconds(code: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code or "pass"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    base = startup_seconds("", args.repeats)
    print(f"{'job module':48s} {'s':>7s} {'x bare':>8s}")
    for name, code in MODULES.items():
        s = base if not code else startup_seconds(code, args.repeats)
        print(f"{name:48s} {s:7.3f} {s / base:8.1f}")


if __name__ == "__main__":
    main()
