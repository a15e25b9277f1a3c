"""The paper-DAG contract: everything the paper reads from a run's generated/ folder is made by a rule,
every generated artifact is used by the paper, and every macro the text uses is defined by a generated file
-- for the smoke run's outputs (slow), and for every shipped config from the config alone (fast)."""

import re
import shutil
from pathlib import Path

import pytest

from mambaicl.config import load_yaml
from mambaicl.report.macros import paper_macros
from mambaicl.validation import validate

from workflow_helpers import SMOKE, planned_jobs, report_dir, snakemake, tiny_config

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "workflow" / "config").glob("*.yaml"))
REFS = re.compile(r"\\(?:input|includegraphics)(?:\[[^\]]*\])?\{([^}]+)\}")
MACRO_DEF = re.compile(r"\\newcommand\{\\([A-Za-z]+)\}")
NEWIF = re.compile(r"\\newif\\if([A-Za-z]+)")
# Our macros are CamelCase names (LaTeX's own commands are lower case, bar these).
LATEX_UPPER = {"LaTeX", "TeX", "Huge", "LARGE", "Large", "IfFileExists", "FloatBarrier"}  # paper/floats.sty


def _tex_path(static: Path, report: Path, ref: str) -> Path:
    """A \\input or \\includegraphics reference: generated/... is the run's folder (TEXINPUTS), the rest paper/."""
    p = (report if ref.startswith("generated/") else static) / ref
    return p if p.suffix else p.with_suffix(".tex")


def strip_comments(body: str) -> str:
    return "\n".join(line.split("%")[0] if not line.lstrip().startswith("\\%") else line
                     for line in body.splitlines())


def paper_closure(static: Path, report: Path) -> tuple[set[Path], str]:
    """Every file the compiled paper reads (static sources in ``static``, generated ones under ``report``),
    and their text joined."""
    seen, text, todo = set(), [], [static / "main.tex"]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        if f.suffix != ".tex":
            continue
        body = strip_comments(f.read_text())
        text.append(body)
        todo += [_tex_path(static, report, r) for r in REFS.findall(body)]
    return seen, "\n".join(text)


# --- the static TeX against every config, without a run ---------------------------------------------------

TOKEN = re.compile(r"\\(?:(?P<cmd>input|includegraphics)(?:\[[^\]]*\])?\{(?P<ref>[^}]+)\}|\\|(?P<name>[A-Za-z]+))")


def static_macro_problems(static: Path, files: dict[str, dict]) -> list[str]:
    """Read the static sources from main.tex in document order, static \\input files inlined, taking only the
    branches of each \\if switch that ``files`` (``report.macros.paper_macros(config)``) sets. Every CamelCase
    macro on a taken branch must be defined by a generated macros file \\input before it; every switch must
    be known. Returns the problems found."""
    defined, switches, problems = set(), {}, []
    stack = []  # per open switch: [on before it, its value]

    def on() -> bool:
        return not stack or stack[-1][0] and stack[-1][1]

    def walk(path: Path) -> None:
        for m in TOKEN.finditer(strip_comments(path.read_text())):
            name, ref = m.group("name"), m.group("ref")
            if ref is not None:
                if not on() or m.group("cmd") != "input":
                    continue
                if ref.startswith("generated/"):
                    f = files.get(Path(ref).name if ref.endswith(".tex") else Path(ref).name + ".tex")
                    if f:
                        defined.update(f["names"])
                        switches.update(f["switches"])
                else:
                    walk(_tex_path(static, static, ref))
            elif name is None:
                continue
            elif name.startswith("if") and name[2:3].isupper():
                if name[2:] not in switches:
                    problems.append(f"\\{name} in {path.name}: no generated macros file read before it defines it")
                stack.append([on(), switches.get(name[2:], False)])
            elif name.startswith("if") and name not in ("if",):
                problems.append(f"\\{name} in {path.name}: only the generated \\if switches are understood here")
            elif name == "else" and stack:
                stack[-1][1] = not stack[-1][1]
            elif name == "fi" and stack:
                stack.pop()
            elif on() and name[0].isupper() and name not in LATEX_UPPER and name not in defined:
                problems.append(f"\\{name} in {path.name}")

    walk(static / "main.tex")
    if stack:
        problems.append(f"{len(stack)} \\if switch(es) never closed")
    return sorted(set(problems))


@pytest.mark.parametrize("configfile", CONFIGS, ids=lambda p: p.stem)
def test_every_macro_of_the_static_tex_is_defined_for_every_config(configfile):
    """No config's PDF fails on an undefined macro: checked from the config alone, in seconds."""
    config = validate(load_yaml(configfile))
    problems = static_macro_problems(REPO / "paper", paper_macros(config))
    assert not problems, f"{configfile.name}: macros the static TeX uses but the config does not define: {problems}"


def test_the_macro_check_catches_a_macro_only_some_configs_define(tmp_path):
    """The provenance sentence as it was: a macro named after the model `transformer`, which cpu.yaml lacks."""
    static = tmp_path / "paper"
    shutil.copytree(REPO / "paper", static, ignore=shutil.ignore_patterns("generated", "build", "*.pdf"))
    (static / "sections" / "provenance.tex").write_text(
        "\\section{Provenance and compute}\nThe Transformer on linear regression has\n"
        "\\ParamsLinearRegressionTransformer{} effective parameters and trained in\n"
        "\\TrainTimeLinearRegressionTransformer{} per seed on average.\n")
    cpu = validate(load_yaml(REPO / "workflow/config/cpu.yaml"))
    smoke = validate(load_yaml(REPO / "workflow/config/smoke.yaml"))
    assert static_macro_problems(static, paper_macros(cpu)) == [
        "\\ParamsLinearRegressionTransformer in provenance.tex",
        "\\TrainTimeLinearRegressionTransformer in provenance.tex"]
    assert static_macro_problems(static, paper_macros(smoke)) == []
    # a guarded macro counts only where its switch is set: without verdicts, the verdict paragraph is skipped
    assert "\\VerdictFailsAt in results.tex" not in static_macro_problems(static, paper_macros(cpu))
    no_switch = {k: {**v, "switches": {}} for k, v in paper_macros(smoke).items()}
    assert any(p.startswith("\\ifTinyScale") for p in static_macro_problems(static, no_switch))


@pytest.mark.slow
def test_paper_reads_only_rule_outputs_and_uses_every_generated_file(smoke_run):
    static, report = smoke_run / "paper", report_dir(smoke_run, "smoke")
    files, text = paper_closure(static, report)
    generated = {f for f in files if f.is_relative_to(report / "generated")}
    for f in files - generated:  # static sources are committed files, never outputs
        assert f.is_relative_to(static) and "generated" not in f.relative_to(static).parts and f.exists(), f
    missing = [str(f) for f in generated if not f.exists()]
    assert not missing, f"the paper reads files no rule made: {missing}"
    assert not (static / "generated").exists() and not (static / "main.pdf").exists(), "the run wrote into paper/"
    on_disk = {p for p in (report / "generated").rglob("*") if p.is_file()}
    unused = sorted(str(p.relative_to(report)) for p in on_disk - generated)
    assert not unused, f"generated files the paper never reads: {unused}"
    # each generated file is a declared output: deleting it makes exactly its own rules rerun
    plan = planned_jobs(snakemake(["-n", "--configfile", SMOKE], cwd=smoke_run).stdout)
    assert plan == {}, plan


@pytest.mark.slow
def test_every_macro_in_the_text_is_generated(smoke_run):
    report = report_dir(smoke_run, "smoke")
    files, text = paper_closure(smoke_run / "paper", report)
    defined = set()
    for f in files:
        if f.is_relative_to(report / "generated") and f.suffix == ".tex":
            body = f.read_text()
            defined |= set(MACRO_DEF.findall(body))
            defined |= {f"if{n}" for n in NEWIF.findall(body)} | {f"{n}true" for n in NEWIF.findall(body)}
    used = {m for m in re.findall(r"\\([A-Z][A-Za-z]*)", text) if m not in LATEX_UPPER}
    assert not used - defined, f"macros used but not generated: {sorted(used - defined)}"
    # the macros files hold exactly the names report.macros.paper_macros lists for the config
    listed = paper_macros(validate(load_yaml(smoke_run / SMOKE)))
    for name, entry in listed.items():
        assert set(MACRO_DEF.findall((report / "generated" / name).read_text())) == set(entry["names"]), name
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


@pytest.mark.parametrize("task", ["mqar", "sparse_parity", "decision_tree"])
def test_a_config_without_linear_regression_probing_verdicts_or_nlp_lacks_no_macro(task):
    config = validate(tiny_config("tiny", task))
    assert static_macro_problems(REPO / "paper", paper_macros(config)) == []
