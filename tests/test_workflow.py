"""The Snakemake DAG end to end at smoke size, and the paper config's plan and CUDA guard."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from mambaicl.config import iter_runs, load_yaml
from mambaicl.evaluation.settings import task_baselines
from mambaicl.report.latex import format_interval, format_number, macro_name, parse_macros
from mambaicl.report.pdfcheck import bad_tokens, distant_floats, overfull_boxes, pdf_pages, pdf_text, render_pages

from workflow_helpers import SMOKE, copy_workflow, planned_jobs, report_dir, snakemake, tiny_config


@pytest.mark.slow
def test_smoke_dag_builds_the_pdf(smoke_run):
    pdf = report_dir(smoke_run, "smoke") / "main.pdf"
    assert pdf.exists() and pdf.stat().st_size > 10_000
    assert pdf.read_bytes().startswith(b"%PDF")
    assert (report_dir(smoke_run, "smoke") / "generated/figures/error_curves_linear_regression.pdf").exists()
    assert not (smoke_run / "paper" / "main.pdf").exists() and not (smoke_run / "paper" / "generated").exists()
    log = (smoke_run / "logs/smoke/paper/latexmk.log").read_text()
    assert "Output written" in log or "up-to-date" in log


@pytest.mark.slow
def test_smoke_pdf_reads_like_a_paper(smoke_run, tmp_path):
    """No line into the margin (tolerance 5 pt), no "nan"/"inf" in the text, every float within two pages of
    its first reference (paper/floats.sty records each reference's page in the .aux), every page renders."""
    report = report_dir(smoke_run, "smoke")
    build = report / "build"
    assert overfull_boxes((build / "main.log").read_text(errors="replace"), tolerance_pt=5.0) == []
    aux = (build / "main.aux").read_text()
    assert "\\mambaicl@firstref{tab:run-protocol}" in aux
    assert distant_floats(aux, max_pages=2) == []
    # the "This run" table on page 1 or 2
    assert "\\newlabel{tab:run-protocol}{{1}{1}" in aux or "\\newlabel{tab:run-protocol}{{1}{2}" in aux
    if not (shutil.which("pdftotext") and shutil.which("pdftoppm")):
        pytest.skip("poppler-utils (pdftotext, pdftoppm) not installed: the text and rendering checks need them")
    text = " ".join(pdf_text(report / "main.pdf").split())
    assert bad_tokens(text) == []
    for needle in ("This run", "Provenance and compute", "Defects of the original releases",
                   "The configuration of this run", "smoke.yaml", "Training loss against the step"):
        assert needle in text, needle
    pages = render_pages(report / "main.pdf", tmp_path / "pages", dpi=10)
    assert len(pages) == pdf_pages(report / "main.pdf") > 10


@pytest.mark.slow
def test_provenance_section_states_the_run(smoke_run):
    generated = report_dir(smoke_run, "smoke") / "generated"
    section = (generated / "sections/provenance.tex").read_text()
    config = load_yaml(smoke_run / SMOKE)
    for needle in ("smoke.yaml", "torch", "transformers", "snakemake", "numpy", "mamba-ssm", "logical CPUs",
                   r"\label{tab:compute}", r"\label{tab:prompt-checksums}", r"\label{tab:paper-map}"):
        assert needle in section, needle
    sidecar = json.loads((smoke_run / "results/smoke/data/linear_regression/eval_prompts.json").read_text())
    assert sidecar["sha256"][:16] in section
    appendix = (generated / "sections/config_appendix.tex").read_text()
    body = appendix.split(r"\begin{verbatim}")[1].split(r"\end{verbatim}")[0]
    assert yaml.safe_load(body)["train"]["steps"] == config["train"]["steps"]
    assert (generated / "figures/training_loss.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.slow
def test_table_and_macros_equal_the_metrics(smoke_run):
    curves = pd.read_csv(smoke_run / "results/smoke/metrics/linear_regression/curves.csv")
    generated = report_dir(smoke_run, "smoke") / "generated"
    macros = parse_macros((generated / "macros.tex").read_text())
    table = (generated / "tables/errors_linear_regression.tex").read_text()
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
            row_k = d[d.k == k].iloc[0]
            assert cell == format_interval(row_k.normalized_mean, row_k.normalized_ci_low,
                                           row_k.normalized_ci_high), (label, k)
            assert macros[key] == format_number(at_k.item())  # 3 decimals, or x\times10^{n} below 0.01
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
    fig = "results/smoke/paper/generated/figures/error_curves_linear_regression.pdf"
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


# --- each run its own report tree --------------------------------------------------------------------------


def dry_run_outputs(work: Path, configfiles: list[str]) -> dict[str, set[str]]:
    """Every output and log file each config's whole DAG declares (dry runs side by side, from scratch)."""
    procs = {c: subprocess.Popen([sys.executable, "-m", "snakemake", "-n", "--forceall", "--cores", "1",
                                  "--configfile", c], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True) for c in configfiles}
    out = {}
    for c, proc in procs.items():
        text = proc.communicate()[0]
        assert proc.returncode == 0, f"dry run of {c} failed:\n{text[-4000:]}"
        out[c] = {f for line in text.splitlines() if line.startswith(("    output: ", "    log: "))
                  for f in line.split(": ", 1)[1].split(", ")}
        assert out[c], text[-2000:]
    return out


def test_shipped_configs_share_no_output(tmp_path):
    """Every output of a config lies under its own results/<run_name>/ or logs/<run_name>/, the PDF included,
    so two configs run in one directory (even at once) never read or overwrite each other's files."""
    work = copy_workflow(tmp_path)
    configs = sorted(f"workflow/config/{p.name}" for p in (work / "workflow/config").glob("*.yaml"))
    runs = {c: yaml.safe_load((work / c).read_text())["run_name"] for c in configs}
    assert len(set(runs.values())) == len(runs), runs
    outputs = dry_run_outputs(work, configs)
    for c, files in outputs.items():
        own = (f"results/{runs[c]}/", f"logs/{runs[c]}/")
        assert f"results/{runs[c]}/paper/main.pdf" in files, c
        assert not [f for f in files if not f.startswith(own)], (c, sorted(f for f in files if not f.startswith(own)))
    for i, a in enumerate(configs):
        for b in configs[i + 1:]:
            assert not outputs[a] & outputs[b], (a, b, sorted(outputs[a] & outputs[b])[:10])


@pytest.mark.slow
def test_two_configs_run_at_once_in_one_directory_build_two_correct_pdfs(tmp_path):
    """Two tiny configs, different tasks, started together in one directory: each PDF holds its own run."""
    import shutil

    work = copy_workflow(tmp_path)
    tiny = {"tiny_lr": "linear_regression", "tiny_parity": "sparse_parity"}
    for run, task in tiny.items():
        (work / f"{run}.yaml").write_text(yaml.safe_dump(tiny_config(run, task)))
    procs = [subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", f"{run}.yaml"],
                              cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for run in tiny]
    for proc in procs:
        text = proc.communicate()[0]
        assert proc.returncode == 0, text[-4000:]
    assert not (work / "paper/generated").exists() and not (work / "paper/main.pdf").exists()
    for run, task in tiny.items():
        other = next(t for r, t in tiny.items() if r != run)
        report = report_dir(work, run)
        tables = sorted(p.name for p in (report / "generated/tables").iterdir())
        assert f"errors_{task}.tex" in tables and f"errors_{other}.tex" not in tables, tables
        section = (report / "generated/sections/tasks.tex").read_text()
        assert task in section and other not in section
        if shutil.which("pdftotext"):
            text = subprocess.run(["pdftotext", str(report / "main.pdf"), "-"], capture_output=True,
                                  text=True).stdout
            assert run.replace("_", "") in text.replace("_", "").replace(" ", "")
