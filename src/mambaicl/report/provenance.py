"""The report's provenance section and config appendix (``workflow/scripts/provenance_section.py``): config
file and hash, run date, hardware, package versions, compute per stage, evaluation-prompt checksums, and where
each of our figures and tables sits in the papers. The "This run" table is ``report.run_protocol``."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import re
import textwrap
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from ..config import spec_hash
from .latex import format_duration, latex_escape, table_tex

def tt_path(text: str) -> str:
    """A path or name in typewriter type that may break after each slash."""
    return r"\texttt{" + latex_escape(text).replace("/", r"/\allowbreak{}") + "}"


# --- environment, hardware, compute ----------------------------------------------------------------------

PACKAGES = ("torch", "numpy", "pandas", "transformers", "snakemake", "mamba-ssm", "causal-conv1d", "triton",
            "matplotlib", "scikit-learn")


def package_versions(packages=PACKAGES) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in packages:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return re.sub(r"\s+", " ", line.split(":", 1)[1]).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_model() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    except Exception:  # noqa: BLE001 -- a broken driver must not stop the report
        pass
    return "none"


def hardware_info(config: dict) -> dict[str, str]:
    import torch

    return {"CPU": cpu_model(), "logical CPUs": str(os.cpu_count()), "threads per job (config)": str(config["threads"]),
            "torch threads (this job)": str(torch.get_num_threads()), "GPU": gpu_model(),
            "device (config)": str(config["device"]), "platform": f"{platform.system()} {platform.machine()}"}


def hardware_text(config: dict) -> str:
    gpu = gpu_model()
    return f"{cpu_model()} ({os.cpu_count()} logical CPUs)" + ("" if gpu == "none" else f", {gpu}")


def last_elapsed(metrics_csv: str) -> float:
    """A run's training seconds: the last ``elapsed_s`` of its train_metrics.csv (resumes included)."""
    df = pd.read_csv(metrics_csv)
    return float(df.elapsed_s.iloc[-1]) if len(df) else 0.0


_ATTEMPT = re.compile(r"^=== attempt (started|finished|failed) (\S+) ===$", re.M)


def log_seconds(text: str) -> float | None:
    """Wall seconds of a job's last finished attempt, from the ``=== attempt ... ===`` lines
    ``runtime.log_to`` writes; None where no attempt finished."""
    start, out = None, None
    for kind, when in _ATTEMPT.findall(text):
        t = _dt.datetime.fromisoformat(when)
        if kind == "started":
            start = t
        elif kind == "finished" and start is not None:
            out = (t - start).total_seconds()
    return out


def stage_times(logs_dir: str | Path) -> pd.DataFrame:
    """Per stage (the first folder under the run's logs), the jobs with a finished attempt and their summed
    wall time, and the first and last timestamps seen: what the rules' declared logs record."""
    rows = []
    logs_dir = Path(logs_dir)
    for log in sorted(logs_dir.rglob("*.log")):
        text = log.read_text(errors="replace")
        secs = log_seconds(text)
        stamps = [_dt.datetime.fromisoformat(w) for _, w in _ATTEMPT.findall(text)]
        rows.append({"stage": log.relative_to(logs_dir).parts[0], "seconds": secs,
                     "first": min(stamps) if stamps else None, "last": max(stamps) if stamps else None})
    df = pd.DataFrame(rows, columns=["stage", "seconds", "first", "last"])
    if df.empty:
        return pd.DataFrame(columns=["stage", "jobs", "seconds", "first", "last"])
    out = (df.groupby("stage").agg(jobs=("seconds", "count"), seconds=("seconds", "sum"), first=("first", "min"),
                                   last=("last", "max")).reset_index())
    return out[out.jobs > 0].reset_index(drop=True)  # logs without attempt lines (latexmk's) time nothing


def prompt_checksums(metas: dict[str, str]) -> pd.DataFrame:
    """name -> eval_prompts.json sidecar: the prompt set's shape, seed and recorded sha256 (the integrity
    check the evaluation jobs verify)."""
    rows = []
    for name, path in metas.items():
        meta = json.loads(Path(path).read_text())
        rows.append({"name": name, "shape": "x".join(map(str, meta.get("shape", []))),
                     "seed": meta.get("spec", {}).get("seed", ""), "sha256": meta.get("sha256", "")})
    return pd.DataFrame(rows, columns=["name", "shape", "seed", "sha256"])


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- where our figures and tables sit in the papers -----------------------------------------------------------
# label prefix of ours -> the papers' item (spec section 0.2; "to be confirmed" where the spec says so).
PAPER_MAP = [
    ("fig:errors-", "figure", "error curves per task",
     "Grazzi et al.'s simple-function figure (probably Fig.~2, to be confirmed); Park et al.'s task figures"),
    ("fig:skewed-covariance", "figure", "skewed covariance", "Grazzi et al.'s skewed-covariance figure"),
    ("fig:settings-", "figure", "further evaluation settings",
     "Garg et al.'s out-of-distribution suite (inherited by both papers); Park et al.'s outlier settings"),
    ("tab:errors-", "table", "errors at selected $k$", "ours (the figures' numbers)"),
    ("tab:settings-", "table", "errors per evaluation setting", "ours (the settings figures' numbers)"),
    ("tab:verdicts", "table", "verdicts", "Park et al.'s Table~1"),
    ("tab:retrieval-", "table", "vector-valued MQAR", "Park et al.'s MQAR results (values to be confirmed)"),
    ("tab:reference", "table", "published vs replicated", "every published number we can look up"),
    ("tab:param-counts", "table", "parameter counts", "both papers' model sizes"),
    ("tab:training", "table", "training schedule", "Grazzi et al.\\ Section~3; Park et al.'s release"),
    ("fig:probe-", "figure", "probing", "Grazzi et al.'s probing figures (probably Figs.~3--5)"),
    ("fig:nlp-box", "figure", "NLP 5-shot accuracies", "Grazzi et al.\\ Fig.~6"),
    ("fig:nlp-shots", "figure", "NLP accuracy vs shots", "Grazzi et al.\\ Fig.~7"),
    ("tab:nlp-", "table", "NLP accuracies", "Grazzi et al.'s appendix table (complete results)"),
    ("fig:forward-scaling", "figure", "forward cost vs length", "ours (both papers' motivation)"),
    ("fig:training-loss", "figure", "training loss", "ours (neither paper shows it)"),
    ("tab:run-protocol", "table", "this run's protocol", "ours"),
    ("tab:seeds", "table", "per-seed window errors", "ours (both papers give means over seeds only)"),
]


LABEL = re.compile(r"\\label\{((?:fig|tab):[^}]*)\}")


def float_labels(tex_files: list[str]) -> list[str]:
    """Every figure and table label the given TeX files define, in file order."""
    out = []
    for f in tex_files:
        out += [m for m in LABEL.findall(Path(f).read_text()) if m not in out]
    return out


def _refs(kind: str, labels: list[str]) -> str:
    word = "Figure" if kind == "figure" else "Table"
    refs = ", ".join(rf"\ref{{{label}}}" for label in labels)
    return f"{word}{'s' if len(labels) > 1 else ''}~{refs}"


def figure_map_tex(labels: list[str]) -> str:
    """The figure/table map: each family of our floats (by label prefix), with references to those this
    PDF has (``labels``: every float label its TeX defines), and the papers' item it corresponds to."""
    # \ledgerrefs (paper/floats.sty, local to the float): the map points across the whole report, so its
    # references are not first references (the per-seed appendix table is referenced nowhere earlier).
    body = []
    for prefix, kind, what, theirs in PAPER_MAP:
        mine = [lab for lab in labels if (lab.startswith(prefix) if prefix.endswith("-") else lab == prefix)]
        if mine:
            body.append(rf"{_refs(kind, mine)} & {what} & {theirs} \\")
    return table_tex(r"Where each of our figures and tables sits in the papers. Numbering the spec marks as "
                     r"unconfirmed is flagged; ``ours'' marks additions.", "tab:paper-map",
                     r"@{}>{\raggedright\arraybackslash}p{4.2cm}l>{\raggedright\arraybackslash}p{6.8cm}@{}",
                     "Ours & Content & In the papers", body, r"\small", "tbp", lead=[r"\ledgerrefs"])


# --- the provenance section and config appendix ------------------------------------------------------------


def _wrap_yaml(text: str, width: int = 96) -> str:
    out = []
    for line in text.splitlines():
        if len(line) <= width:
            out.append(line)
            continue
        indent = len(line) - len(line.lstrip())
        out += textwrap.wrap(line, width, subsequent_indent=" " * (indent + 4), break_long_words=True,
                             break_on_hyphens=False)
    return "\n".join(out)


def config_appendix_tex(config: dict, config_files: list[str]) -> str:
    """The resolved config (defaults and ``--config`` overrides applied) as verbatim YAML."""
    body = _wrap_yaml(yaml.safe_dump(config, sort_keys=False, width=90, default_flow_style=None))
    names = ", ".join(tt_path(f) for f in config_files)
    return "\n".join([
        "% Generated by the workflow; do not edit.",
        r"\section{The configuration of this run}\label{app:config}",
        rf"The resolved configuration this PDF was built from (read from {names}, the schema's defaults and any "
        rf"\texttt{{--config}} overrides applied); its hash \texttt{{{spec_hash(config)}}} is the first 16 hex "
        r"digits of the SHA-256 of this configuration serialised as JSON with sorted keys.",
        r"{\footnotesize", r"\begin{verbatim}", body, r"\end{verbatim}", "}", ""])


def provenance_section_tex(config: dict, config_files: dict[str, str], commit: str, versions: dict[str, str],
                           hardware: dict[str, str], stages: pd.DataFrame, train_seconds: dict[str, float],
                           checksums: pd.DataFrame, built: str, labels: list[str] = ()) -> str:
    e = latex_escape
    files = "; ".join(rf"{tt_path(f)} (SHA-256 \texttt{{{h[:16]}}}\dots)" for f, h in config_files.items())
    first = stages["first"].dropna().min() if len(stages) else None
    last = stages["last"].dropna().max() if len(stages) else None
    span = (f"the run's first logged job started {first:%Y-%m-%d %H:%M} UTC, its last ended {last:%Y-%m-%d %H:%M} UTC"
            if first is not None and last is not None else "no job log was found")
    lines = ["% Generated by the workflow; do not edit. The provenance section's body (paper/sections/provenance.tex).",
             r"\begin{itemize}",
             rf"\item Run \texttt{{{e(config['run_name'])}}}, scale \texttt{{{e(config['scale'])}}}.",
             rf"\item Configuration file: {files}; the resolved configuration is printed in "
             r"Appendix~\ref{app:config}.",
             rf"\item Configuration hash \texttt{{{spec_hash(config)}}}: the first 16 hex digits of the SHA-256 of "
             r"the resolved configuration (the file, the schema's defaults and any command-line overrides) as JSON "
             r"with sorted keys. Two PDFs with the same hash were built from the same settings.",
             rf"\item Code: mambaicl at commit \texttt{{{e(commit)}}}"
             + (r" (\texttt{-dirty}: the working tree had uncommitted changes)." if commit.endswith("-dirty") else "."),
             rf"\item Dates: {span}; this section was written on {e(built)} UTC.",
             r"\end{itemize}", "",
             r"\paragraph{Hardware and software.} Table~\ref{tab:environment} lists the machine and the package "
             r"versions of the job that wrote this section (every job of a run uses the same environment).",
             ""]
    left = list(hardware.items())
    right = list(versions.items())
    n = max(len(left), len(right))
    left += [("", "")] * (n - len(left))
    right += [("", "")] * (n - len(right))
    # this head row shares its line with its rule, so it travels in the body (no head rows)
    env = [r"Hardware & & Package & Version \\ \midrule"] + [
        rf"{e(k1)} & {e(v1)} & {e(k2)} & \texttt{{{e(v2)}}} \\" for (k1, v1), (k2, v2) in zip(left, right)]
    lines += [table_tex("Machine and software of this run.", "tab:environment", r"@{}ll@{\qquad}ll@{}", (), env,
                        fit=False)]
    total = float(stages.seconds.sum()) if len(stages) else 0.0
    train_total = sum(train_seconds.values())
    lines += [r"\paragraph{Compute.} Table~\ref{tab:compute} gives the wall time of each stage, summed over its "
              r"jobs from the attempt times the jobs write to their declared logs (\texttt{logs/<run>/<stage>/}; "
              r"jobs run in parallel, so the sum exceeds the elapsed time). Training alone, from the "
              rf"\texttt{{elapsed\_s}} column of the runs' \texttt{{train\_metrics.csv}}, took {format_duration(train_total)} "
              rf"over {len(train_seconds)} runs; all stages together {format_duration(total)}.", ""]
    compute = [rf"{e(r.stage)} & {r.jobs} & {format_duration(r.seconds) if r.seconds == r.seconds else '--'} \\"
               for r in stages.itertuples()]
    compute += [r"\midrule", rf"all & {int(stages.jobs.sum()) if len(stages) else 0} & {format_duration(total)} \\"]
    lines += [table_tex("Wall time per stage (summed over jobs).", "tab:compute", "@{}lrr@{}", "Stage & Jobs & Time",
                        compute, fit=False)]
    lines += [r"\paragraph{Evaluation prompts.} Every model and baseline of a task reads the same fixed prompt "
              r"set, written once and checked against the SHA-256 in its sidecar (\texttt{eval\_prompts.json}) "
              r"before each evaluation. Table~\ref{tab:prompt-checksums} lists them (first 16 hex digits).", ""]
    sums = [rf"\texttt{{{e(r.name)}}} & {e(r.shape)} & {r.seed} & \texttt{{{e(str(r.sha256)[:16])}}} \\"
            for r in checksums.itertuples()]
    lines += [table_tex("Evaluation prompt sets and their checksums.", "tab:prompt-checksums", "@{}llll@{}",
                        "Prompt set & Shape & Seed & SHA-256", sums)]
    lines += [r"\paragraph{Our figures and the papers'.} Table~\ref{tab:paper-map} maps each family of our "
              r"figures and tables to the papers' numbering.", "", figure_map_tex(labels)]
    return "\n".join(lines) + "\n"


def provenance_job(config: dict, config_files: list[str], metas: dict[str, str], metrics: list[str], logs_dir: str,
                   tex_files: list[str], out_section: str, out_appendix: str) -> None:
    """Writes the provenance section and the config appendix (the commit: the working directory's, the
    repository the workflow runs in). ``tex_files``: the paper's TeX, static and generated, whose float labels
    the figure/table map references."""
    from .latex import git_commit

    commit = git_commit(Path.cwd())
    stages = stage_times(logs_dir)
    train = {m: last_elapsed(m) for m in metrics}
    built = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    text = provenance_section_tex(config, {f: file_sha256(f) for f in config_files}, commit, package_versions(),
                                  hardware_info(config), stages, train, prompt_checksums(metas), built,
                                  float_labels(tex_files))
    Path(out_section).write_text(text)
    Path(out_appendix).write_text(config_appendix_tex(config, config_files))
