"""Running the Snakemake workflow from tests: in a fresh copy of its sources, never in the checkout."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

SMOKE = "workflow/config/smoke.yaml"


def report_dir(work: Path, run_name: str) -> Path:
    """A run's report tree: its generated/ figures, tables and macros and its main.pdf (workflow/rules/common.smk)."""
    return Path(work) / "results" / run_name / "paper"


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
    """The workflow's sources (not its outputs) in a fresh directory, as a clean clone has them (leftovers of
    the older layout, which compiled into paper/, are not copied)."""
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


def tiny_config(run_name: str, task: str = "linear_regression", models: tuple[str, ...] = ("transformer",),
                steps: int = 20) -> dict:
    """smoke.yaml cut down to one task and its models, a few steps, one seed, no probing, verdicts or NLP:
    the smallest config that still builds every part of a PDF."""
    import yaml

    repo = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((repo / SMOKE).read_text())
    cfg["run_name"] = run_name
    cfg["tasks"] = {task: cfg["tasks"][task]}
    cfg["tasks"][task].pop("ood_suite", None)
    cfg["tasks"][task].pop("eval_settings", None)
    cfg["models"] = {m: cfg["models"][m] for m in models}
    cfg["experiments"] = [{"task": task, "models": list(models)}]
    cfg["train"].update(steps=steps, seeds=[1], checkpoint_every=steps, log_every=max(steps // 2, 1))
    cfg["evaluation"].update(n_prompts=32, batch_size=32, bootstrap={"n_resamples": 20, "ci": 0.9, "seed": 0})
    cfg["scaling"].update(backbones=["gpt2"], lengths=[32, 64])
    last_k = cfg["tasks"][task]["eval_points"] - 1
    cfg["report"] = {"k_values": [k for k in (2, 5) if k <= last_k] or [last_k], "window": 2, "reference_models": {}}
    for key in ("probing", "nlp"):
        cfg.pop(key, None)
    return cfg
