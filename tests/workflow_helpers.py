"""Running the Snakemake workflow from tests: in a fresh copy of its sources, never in the checkout."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

SMOKE = "workflow/config/smoke.yaml"


def snakemake(args, cwd, check=True):
    out = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return out


def planned_jobs(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a dry run."""
    jobs, inside = {}, False
    for line in output.splitlines():
        if line.startswith("Job stats"):
            inside = True
            continue
        if inside:
            m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
            if m and m.group(1) != "total":
                jobs[m.group(1)] = int(m.group(2))
            elif line.strip().startswith("total"):
                break
    return jobs


def copy_workflow(work: Path) -> Path:
    """The workflow's sources (not its outputs) in a fresh directory, as a clean clone has them."""
    repo = Path(__file__).resolve().parents[1]
    for item in ("Snakefile", "workflow", "paper", "profiles"):
        src = repo / item
        if not src.exists():
            continue
        if src.is_dir():
            shutil.copytree(src, work / item, ignore=shutil.ignore_patterns("generated", "build", "main.pdf"))
        else:
            shutil.copy(src, work / item)
    return work
