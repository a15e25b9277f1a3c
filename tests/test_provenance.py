"""The report's provenance (report.provenance), the training-loss figure (report.plots_training), number
formatting (report.latex) and the PDF checks (report.pdfcheck), without a workflow run."""

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mambaicl.config import load_yaml, spec_hash
from mambaicl.report.latex import format_number, format_sci, latex_escape, macros_tex, parse_macros
from mambaicl.report.macros import setup_text_macros
from mambaicl.report.pdfcheck import bad_tokens, distant_floats, overfull_boxes
from mambaicl.report.plots_training import figure_training_loss_job
from mambaicl.report.provenance import (config_appendix_tex, log_seconds, package_versions, prompt_checksums,
                                        provenance_section_tex, stage_times)
from mambaicl.report.run_protocol import run_protocol_job
from mambaicl.validation import validate

REPO = Path(__file__).resolve().parents[1]


def _config(name="smoke"):
    return validate(load_yaml(REPO / "workflow" / "config" / f"{name}.yaml"))


def test_small_and_large_numbers_are_latex_math_and_survive_escaping():
    assert format_number(0.00316) == r"\ensuremath{3.16\times10^{-3}}"
    assert format_number(2.5e6) == r"\ensuremath{2.50\times10^{6}}"
    assert format_number(0.0123) == "0.012" and format_number(0.0) == "0.000" and format_number(float("nan")) == "--"
    assert format_sci(1.939e-4, 4) == r"\ensuremath{1.939\times10^{-4}}"
    assert latex_escape(format_number(1e-5)) == format_number(1e-5)  # already LaTeX: not escaped again
    assert parse_macros(macros_tex({"X": format_number(1e-5), "Y": "a_b"})) == {
        "X": r"\ensuremath{1.00\times10^{-5}}", "Y": r"a\_b"}


def test_setup_text_states_the_run_own_rates_and_prompt_lengths():
    smoke = setup_text_macros(_config("smoke"))
    assert smoke["SetupRatesText"] == "one learning rate, 0.001, for every model and task"
    assert smoke["SetupEvalPointsText"] == "1 to 24 points per prompt depending on the task"
    assert smoke["SetupSeedsText"] == "1 to 2 seeds per model depending on the task"
    assert smoke["SetupEvalPromptsText"] == "128"
    paper = setup_text_macros(_config("paper"))
    assert paper["SetupRatesText"].startswith("learning rates from 0.0001 to 0.001")
    assert paper["SetupSeedsText"] == "3 seeds per model" and paper["SetupEvalPromptsText"] == "1,280 (12,800 for mqar)"


def test_log_seconds_and_stage_times_read_the_attempt_lines(tmp_path):
    ok = ("=== attempt started 2026-12-01T00:00:00+00:00 ===\nfailed\n=== attempt failed 2026-12-01T00:00:05+00:00 ===\n"
          "\n=== attempt started 2026-12-01T00:01:00+00:00 ===\n=== attempt finished 2026-12-01T00:01:30+00:00 ===\n")
    assert log_seconds(ok) == 30 and log_seconds("no attempt lines") is None
    (tmp_path / "train/lr").mkdir(parents=True)
    (tmp_path / "train/lr/seed1.log").write_text(ok)
    (tmp_path / "train/lr/seed2.log").write_text(ok.replace("01:30", "02:00"))
    (tmp_path / "paper").mkdir()
    (tmp_path / "paper/latexmk.log").write_text("latexmk output, no attempt lines")
    df = stage_times(tmp_path).set_index("stage")
    assert list(df.index) == ["train"]  # a log that times nothing is left out
    assert df.loc["train", "jobs"] == 2 and df.loc["train", "seconds"] == 90


def test_prompt_checksums_come_from_the_sidecars(tmp_path):
    meta = {"sha256": "ab" * 32, "shape": [128, 16, 5], "spec": {"seed": 7}}
    (tmp_path / "m.json").write_text(json.dumps(meta))
    df = prompt_checksums({"linear_regression": str(tmp_path / "m.json")})
    assert df.iloc[0].to_dict() == {"name": "linear_regression", "shape": "128x16x5", "seed": 7, "sha256": "ab" * 32}


def test_run_protocol_table_sets_the_run_beside_the_papers(tmp_path):
    config = _config("smoke")
    params = pd.DataFrame({"model": list(config["models"]), "params": range(1000, 1000 + len(config["models"]))})
    params.to_csv(tmp_path / "params.csv", index=False)
    metrics = tmp_path / "train_metrics.csv"
    pd.DataFrame({"step": [0, 10], "loss": [5.0, 4.0], "elapsed_s": [0.1, 90.0]}).to_csv(metrics, index=False)
    out = tmp_path / "run.tex"
    run_protocol_job(config, str(REPO / "workflow/config/paper.yaml"), str(REPO / "workflow/schemas/config.schema.yaml"),
                     str(tmp_path / "params.csv"), str(REPO / "workflow/resources/reference/param_counts.csv"),
                     [str(metrics)], "workflow/config/smoke.yaml", str(out))
    tex = out.read_text()
    row = {line.split(" & ")[0]: line.split(" & ")[1:] for line in tex.splitlines() if " & " in line}
    assert row["Training steps"] == ["500,001", "500,001--1,000,001", r"100 \\"]
    assert row["Input dimension $d$"][0] == "20" and row["Input dimension $d$"][2].startswith("4--6")
    assert row["Evaluation prompts"] == ["1,280", "1,280--12,800", r"128 \\"]
    assert row["Learning rate"][2].startswith("0.001")
    assert row["Compute"][2].startswith("1.5 min")
    assert "9.48M--10.5M" in row["Effective parameters"][0]
    assert r"\label{tab:run-protocol}" in tex and "nan" not in tex


def test_provenance_section_and_config_appendix(tmp_path):
    config = _config("smoke")
    (tmp_path / "c.yaml").write_text("x: 1\n")
    stages = pd.DataFrame({"stage": ["train"], "jobs": [2], "seconds": [90.0],
                           "first": [pd.Timestamp("2026-12-01T00:00:00+00:00")],
                           "last": [pd.Timestamp("2026-12-01T00:02:00+00:00")]})
    checksums = pd.DataFrame([{"name": "linear_regression", "shape": "128x16x5", "seed": 7, "sha256": "ab" * 32}])
    versions = package_versions()
    assert versions["torch"] != "not installed" and "mamba-ssm" in versions and "snakemake" in versions
    tex = provenance_section_tex(config, {"workflow/config/smoke.yaml": "cd" * 32}, "abc123", versions,
                                 {"CPU": "test CPU", "GPU": "none"}, stages, {"a": 60.0, "b": 30.0}, checksums,
                                 "2026-12-01 00:03", ["fig:errors-lr", "fig:errors-mqar", "tab:verdicts"])
    assert r"Figures~\ref{fig:errors-lr}, \ref{fig:errors-mqar} & error curves per task" in tex
    assert r"Table~\ref{tab:verdicts} & verdicts & Park et al.'s Table~1" in tex
    assert "fig:nlp-box" not in tex.split(r"\label{tab:paper-map}")[1]  # no NLP figure in this PDF: no row
    for text in (spec_hash(config), r"workflow/\allowbreak{}config/\allowbreak{}smoke.yaml", "abab", "test CPU", "1.5 min",
                 r"\label{tab:paper-map}", r"Appendix~\ref{app:config}"):
        assert text.replace("_", r"\_") in tex, text
    appendix = config_appendix_tex(config, ["workflow/config/smoke.yaml"])
    body = appendix.split(r"\begin{verbatim}")[1].split(r"\end{verbatim}")[0]
    assert max(len(line) for line in body.splitlines()) <= 96
    assert r"\label{app:config}" in appendix and spec_hash(config) in appendix
    assert yaml.safe_load(body)["run_name"] == "smoke"


def test_training_loss_figure(tmp_path):
    files = {}
    for task, models in {"linear_regression": ["transformer", "mamba"], "mqar": ["transformer"]}.items():
        for model in models:
            paths = []
            for seed in (1, 2):
                p = tmp_path / f"{task}_{model}_{seed}.csv"
                pd.DataFrame({"step": [0, 10, 20], "loss": [5.0, 3.0 + seed, 1.0], "n_dims_active": 5,
                              "n_points": 11, "lr": 1e-3, "elapsed_s": [0.1, 1.0, 2.0]}).to_csv(p, index=False)
                paths.append(str(p))
            files[f"{task}/{model}"] = paths
    out = tmp_path / "loss.pdf"
    figure_training_loss_job(files, {"linear_regression": "Linear regression", "mqar": "MQAR"},
                             {"transformer": "Transformer", "mamba": "Mamba"}, str(out), ["transformer", "mamba"])
    assert out.read_bytes().startswith(b"%PDF")


def test_pdf_checks_on_log_text_and_aux():
    log = ("Overfull \\hbox (55.13916pt too wide) in paragraph at lines 2--9\n"
           "Overfull \\hbox (1.57219pt too wide) in alignment at lines 14--18\n")
    assert overfull_boxes(log) == ["55.1pt in paragraph at lines 2--9"]
    assert bad_tokens("error 0.5\nerror nan here\nfinance is fine\n") == ["error nan here"]
    aux = ("\\mambaicl@firstref{fig:a}{3}\n\\newlabel{fig:a}{{1}{4}{A}{figure.1}{}}\n"
           "\\mambaicl@firstref{tab:b}{2}\n\\newlabel{tab:b}{{1}{9}{B}{table.1}{}}\n"
           "\\mambaicl@firstref{tab:b}{8}\n\\newlabel{fig:unref}{{2}{20}{C}{figure.2}{}}\n")
    assert distant_floats(aux, max_pages=2) == ["tab:b: referenced on page 2, set on page 9"]


@pytest.mark.skipif(not shutil.which("pdflatex"), reason="needs pdflatex")
def test_floats_sty_records_each_reference_page(tmp_path):
    shutil.copy(REPO / "paper" / "floats.sty", tmp_path)
    (tmp_path / "t.tex").write_text(r"""\documentclass{article}
\usepackage{floats}
\usepackage{hyperref}
\begin{document}
See Figure~\ref{fig:a} and \ref*{fig:a}.
\begin{figure}[tbp]\centering X\caption{A}\label{fig:a}\end{figure}
\FloatBarrier
\newpage Table~\ref{tab:b}.
\begin{table}[h]\centering\caption{B}\label{tab:b}\end{table}
\end{document}
""")
    for _ in range(2):
        subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                       check=True, capture_output=True)
    aux = (tmp_path / "t.aux").read_text()
    assert "\\mambaicl@firstref{fig:a}{1}" in aux and "\\mambaicl@firstref{tab:b}{2}" in aux
    assert distant_floats(aux, max_pages=0) == []
