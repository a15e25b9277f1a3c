"""The Snakemake DAG end to end at smoke size, and the paper config's plan and CUDA guard."""

import pandas as pd
import pytest
import torch

from mambaicl.config import iter_runs, load_yaml
from mambaicl.evaluation.settings import task_baselines
from mambaicl.report.latex import macro_name, parse_macros

from workflow_helpers import SMOKE, copy_workflow, planned_jobs, snakemake


@pytest.mark.slow
def test_smoke_dag_builds_the_pdf(smoke_run):
    pdf = smoke_run / "paper" / "main.pdf"
    assert pdf.exists() and pdf.stat().st_size > 10_000
    assert pdf.read_bytes().startswith(b"%PDF")
    assert (smoke_run / "paper/generated/figures/error_curves_linear_regression.pdf").exists()
    log = (smoke_run / "logs/smoke/paper/latexmk.log").read_text()
    assert "Output written" in log or "up-to-date" in log


@pytest.mark.slow
def test_table_and_macros_equal_the_metrics(smoke_run):
    curves = pd.read_csv(smoke_run / "results/smoke/metrics/linear_regression/curves.csv")
    macros = parse_macros((smoke_run / "paper/generated/macros.tex").read_text())
    table = (smoke_run / "paper/generated/tables/errors_linear_regression.tex").read_text()
    k_values = [2, 5, 10, 15]
    checked = 0
    for label, d in curves.groupby("label"):
        row = next(ln for ln in table.splitlines() if ln.startswith(label.replace("_", r"\_") + " &"))
        cells = [c.strip().rstrip("\\").strip() for c in row.split("&")[1:]]
        for k, cell in zip(k_values, cells):
            name = d.name.iloc[0]
            key = macro_name("err", "linear_regression", name, "k", k)
            at_k = d.loc[d.k == k, "normalized_mean"]
            if at_k.empty:  # beyond a learned positional table: not evaluated, shown as a dash
                assert cell == "--" and macros[key] == "--", (label, k)
                continue
            assert cell == f"{at_k.item():.3f}", (label, k)
            assert macros[key] == f"{at_k.item():.3f}"
            checked += 1
    assert checked == 11 * len(k_values) - 1  # 9 models, least squares, averaging; one k beyond a PE table
    assert macros["RunScale"] == "smoke" and macros["NumSeeds"] == "2"


@pytest.mark.slow
def test_baselines_in_the_curves_behave(smoke_run):
    curves = pd.read_csv(smoke_run / "results/smoke/metrics/linear_regression/curves.csv")
    ls = curves[curves.name == "least_squares"].set_index("k")
    assert ls.loc[0, "normalized_mean"] == pytest.approx(1.0, abs=0.3)
    assert ls.loc[5:, "normalized_mean"].max() < 1e-6  # d = 5: exact from 5 examples on
    assert (curves.normalized_ci_low <= curves.normalized_mean + 1e-12).all()
    assert (curves.normalized_mean <= curves.normalized_ci_high + 1e-12).all()


@pytest.mark.slow
def test_one_figure_rebuilds_alone_and_nothing_else_is_stale(smoke_run):
    assert planned_jobs(snakemake(["-n", "--configfile", SMOKE], cwd=smoke_run).stdout) == {}
    fig = "paper/generated/figures/error_curves_linear_regression.pdf"
    (smoke_run / fig).unlink()
    plan = planned_jobs(snakemake(["-n", fig, "--configfile", SMOKE], cwd=smoke_run).stdout)
    assert plan == {"figure_error_curves": 1}
    snakemake(["--cores", "1", fig, "--configfile", SMOKE], cwd=smoke_run)
    assert (smoke_run / fig).exists()


def test_paper_config_dry_run_lists_the_planned_jobs(tmp_path):
    out = snakemake(["-n"], cwd=copy_workflow(tmp_path))
    jobs = planned_jobs(out.stdout)
    config = load_yaml(tmp_path / "workflow/config/paper.yaml")
    runs = list(iter_runs(config))
    # Grazzi: 5 tasks x 4 models; Park: 9 task variants x 6 models and parity x 4; 3 seeds each
    assert len(runs) == (5 * 4 + 9 * 6 + 4) * 3
    assert jobs["train"] == len(runs) and jobs["evaluate_model"] == len(runs) and jobs["paper"] == 1
    tasks = {t for t, _, _ in runs}
    assert jobs["evaluate_baseline"] == sum(len(task_baselines(config, t)) for t in tasks)
    assert jobs["figure_error_curves"] == len(tasks) == 11


@pytest.mark.skipif(torch.cuda.is_available(), reason="the guard only fires without CUDA")
def test_paper_config_without_cuda_stops_before_any_job(tmp_path):
    out = snakemake(["--cores", "1"], cwd=copy_workflow(tmp_path), check=False)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "needs a CUDA GPU" in text and "workflow/config/smoke.yaml" in text and "require_cuda=false" in text
    assert not (tmp_path / "results").exists()
