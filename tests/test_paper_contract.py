"""The paper-DAG contract: everything the paper reads from paper/generated/ is made by a rule, every
generated artifact is used by the paper, and every macro the text uses is defined by a generated file."""

import re
from pathlib import Path

import pytest

from workflow_helpers import SMOKE, planned_jobs, snakemake

REFS = re.compile(r"\\(?:input|includegraphics)(?:\[[^\]]*\])?\{([^}]+)\}")
MACRO_DEF = re.compile(r"\\newcommand\{\\([A-Za-z]+)\}")
NEWIF = re.compile(r"\\newif\\if([A-Za-z]+)")
# Our macros are CamelCase names (LaTeX's own commands are lower case, bar these).
LATEX_UPPER = {"LaTeX", "TeX", "Huge", "LARGE", "Large", "IfFileExists"}


def _tex_path(paper: Path, ref: str) -> Path:
    p = paper / ref
    return p if p.suffix else p.with_suffix(".tex")


def paper_closure(paper: Path) -> tuple[set[Path], str]:
    """Every file the compiled paper reads (static and generated), and their text joined."""
    seen, text, todo = set(), [], [paper / "main.tex"]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        if f.suffix != ".tex":
            continue
        body = f.read_text()
        body = "\n".join(line.split("%")[0] if not line.lstrip().startswith("\\%") else line
                         for line in body.splitlines())
        text.append(body)
        todo += [_tex_path(paper, r) for r in REFS.findall(body)]
    return seen, "\n".join(text)


@pytest.mark.slow
def test_paper_reads_only_rule_outputs_and_uses_every_generated_file(smoke_run):
    paper = smoke_run / "paper"
    files, text = paper_closure(paper)
    generated = {f for f in files if "generated" in f.relative_to(paper).parts}
    static = files - generated
    for f in static:  # static sources are committed files, never outputs
        assert "generated" not in str(f.relative_to(paper)) and f.exists(), f
    missing = [str(f) for f in generated if not f.exists()]
    assert not missing, f"the paper reads files no rule made: {missing}"
    on_disk = {p for p in (paper / "generated").rglob("*") if p.is_file()}
    unused = sorted(str(p.relative_to(paper)) for p in on_disk - generated)
    assert not unused, f"generated files the paper never reads: {unused}"
    # each generated file is a declared output: deleting it makes exactly its own rules rerun
    plan = planned_jobs(snakemake(["-n", "--configfile", SMOKE], cwd=smoke_run).stdout)
    assert plan == {}, plan


@pytest.mark.slow
def test_every_macro_in_the_text_is_generated(smoke_run):
    paper = smoke_run / "paper"
    files, text = paper_closure(paper)
    defined = set()
    for f in files:
        if "generated" in f.parts and f.suffix == ".tex":
            body = f.read_text()
            defined |= set(MACRO_DEF.findall(body))
            defined |= {f"if{n}" for n in NEWIF.findall(body)} | {f"{n}true" for n in NEWIF.findall(body)}
    used = {m for m in re.findall(r"\\([A-Z][A-Za-z]*)", text) if m not in LATEX_UPPER}
    assert not used - defined, f"macros used but not generated: {sorted(used - defined)}"
    # typed numbers are not allowed in the results prose: digits only inside macros or math settings
    results = (Path(__file__).resolve().parents[1] / "paper/sections/results.tex").read_text()
    prose = re.sub(r"\$[^$]*\$|\\[A-Za-z]+(\{[^}]*\})?|~\\ref\{[^}]*\}", "", results)
    assert not re.search(r"\d\.\d", prose), "a decimal number is typed in results.tex; make it a macro"


@pytest.mark.slow
def test_snakemake_report_has_the_figures(smoke_run, tmp_path):
    out = smoke_run / "report.html"
    snakemake(["--report", str(out), "--cores", "1", "--configfile", SMOKE], cwd=smoke_run)
    html = out.read_text(errors="replace")
    assert out.stat().st_size > 50_000
    for name in ("error_curves_linear_regression.pdf", "forward_scaling.pdf", "eval_settings_linear_regression.pdf",
                 "nlp_box.pdf", "nlp_shots.pdf"):
        assert name in html, name
