"""The library's layout: one package per pipeline stage, imports pointing one way (no cycles), files of a
readable size, and every workflow script a thin wrapper around one library job."""

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "mambaicl"
MAX_LINES = 420  # "about 400"
STAGES = ("config", "tasks", "models", "training", "evaluation", "analysis", "report", "nlp")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(name: str) -> bool:
    return (PACKAGE.parent / Path(*name.split(".")) / "__init__.py").exists()


def resolve(importer: str, module: str | None, level: int) -> str:
    if not level:
        return module or ""
    base = importer.split(".") if is_package(importer) else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def existing(name: str) -> str | None:
    """The package module ``name`` refers to (a module, or the package holding an imported name)."""
    while name:
        if (PACKAGE.parent / Path(*name.split("."))).with_suffix(".py").exists() or is_package(name):
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> dict[str, set[str]]:
    """Module -> package modules it imports, anywhere in the file (function-level imports count too)."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        me = module_name(path)
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = resolve(me, node.module, node.level)
                targets = [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                if t.split(".")[0] == "mambaicl" and (dep := existing(t)) and dep != me:
                    edges.add(dep)
        graph[me] = edges
    # importing a.b.c runs a/__init__ and a/b/__init__ too
    for me, edges in graph.items():
        for dep in list(edges):
            parts = dep.split(".")
            # (its own ancestors excepted: they are already initialising when it runs)
            edges.update(a for a in (".".join(parts[:i]) for i in range(1, len(parts)))
                         if a != me and not me.startswith(a + "."))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_relative_and_function_level_imports():
    graph = import_graph()
    assert "mambaicl.training.checkpoints" in graph["mambaicl.evaluation.jobs"]
    assert "mambaicl.config" in graph["mambaicl.analysis.probe_config"]  # from ..config import ...
    assert "mambaicl.report.plots" in graph["mambaicl.nlp.report"]  # imported inside a function


def test_no_import_cycle_among_the_package_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_config_imports_no_pipeline_stage():
    graph = import_graph()
    for mod, deps in graph.items():
        if mod.startswith("mambaicl.config"):
            stages = {d for d in deps if d.split(".")[1:2] in (["training"], ["evaluation"], ["analysis"], ["report"],
                                                                 ["nlp"])}
            assert not stages, f"{mod} imports stage modules {sorted(stages)}; stages check their own sections"


def test_the_tree_reads_like_the_dag():
    top = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert top == sorted(STAGES)
    loose = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert loose == ["__init__", "errors", "runtime", "validation"], loose


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_library_files_stay_readable(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(REPO)} has {n} lines; split it by responsibility"


def test_every_workflow_script_wraps_one_library_job():
    """Two hops from a paper file to its code: rule -> script -> one function of the library."""
    for script in sorted((REPO / "workflow" / "scripts").glob("*.py")):
        tree = ast.parse(script.read_text())
        jobs = [a.name for n in tree.body if isinstance(n, ast.ImportFrom) and n.module.startswith("mambaicl")
                for a in n.names if a.name not in ("log_to", "MambaICLError")]
        assert len(jobs) == 1, f"{script.name} calls {jobs}: a script unpacks Snakemake's object and calls one job"
        assert len(script.read_text().splitlines()) <= 25, f"{script.name} is no thin wrapper"


def test_every_rule_file_is_included_and_named_after_a_stage():
    snakefile = (REPO / "Snakefile").read_text()
    included = re.findall(r'include: "workflow/rules/(\w+)\.smk"', snakefile)
    on_disk = sorted(p.stem for p in (REPO / "workflow" / "rules").glob("*.smk"))
    assert sorted(included) == on_disk
    for name in on_disk:
        assert name in ("common", "paper") or name in STAGES, name


def rule_scripts() -> dict[str, str]:
    """Rule name -> the workflow script it runs (rules inside `if` blocks included)."""
    out = {}
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        for m in re.finditer(r"^\s*rule (\w+):(.*?)(?=^\s*(?:rule |use rule )|\Z)", text, re.S | re.M):
            script = re.search(r'"\.\./scripts/(\w+)\.py"', m.group(2))
            if script:
                out[m.group(1)] = script.group(1)
    return out


def test_readme_artifact_table_names_the_function_each_rule_runs():
    readme = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| [^|]+ \| `results/<run_name>/paper/generated/[^`]+` \| ([^|]+) \| `([\w.]+)` \|$", readme, re.M)
    assert len(rows) >= 20, "the README's artifact table lost its rows"
    scripts = rule_scripts()
    for rules, function in rows:
        last_rule = re.findall(r"`(\w+)`", rules)[-1]
        script = (REPO / "workflow" / "scripts" / f"{scripts[last_rule]}.py").read_text()
        module, name = function.rsplit(".", 1)
        assert re.search(rf"^from mambaicl\.{re.escape(module)} import .*\b{name}\b", script, re.M), (
            f"rule {last_rule} runs {scripts[last_rule]}.py, which does not call mambaicl.{function}")


def test_report_jobs_start_without_torch():
    """Tables, figures and the results section are many small jobs: importing torch would dominate them."""
    import subprocess
    import sys

    mods = ["mambaicl.report.tables", "mambaicl.report.figures", "mambaicl.report.sections",
            "mambaicl.report.reference", "mambaicl.nlp.report", "mambaicl.runtime"]
    code = f"import sys; import {', '.join(mods)}; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"a report module imports {out.strip()} at import time"
