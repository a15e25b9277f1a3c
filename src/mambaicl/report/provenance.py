"""The report's provenance: the protocol of the run that built the PDF beside the papers' (the "This run"
table, ``workflow/scripts/table_run_protocol.py``), and the provenance section and config appendix
(``workflow/scripts/provenance_section.py``): config file and hash, run date, hardware, package versions,
compute per stage, evaluation-prompt checksums, and where each of our figures and tables sits in the papers."""

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

from ..config import iter_runs, spec_hash
from .latex import FIT_TO_WIDTH, format_duration, latex_escape

# --- the papers' protocol (the constants the "This run" table sets beside the run's) -------------------------
# Everything else in the papers' columns is computed from workflow/config/paper.yaml (the papers' protocol)
# and workflow/resources/reference/param_counts.csv (their effective parameter counts); these are the facts
# neither file holds (spec section 4; Grazzi et al. report about a day per run on one RTX 2080).
PAPER_FACTS = {
    "grazzi": {"precision": "fp32 (TF32 matrix products allowed)", "hardware": "one RTX 2080 GPU per run",
               "compute": "about a day per run", "seeds": "3 (1, 2, 3)",
               "width": "256 (435 for S4)", "depth": "12 (Transformer), 24 (Mamba, S4)"},
    "park": {"precision": "fp32", "hardware": "not stated", "compute": "not stated", "seeds": "not set"},
}
PAPER_TITLES = {"grazzi": r"Grazzi et al.", "park": r"Park et al."}


def tt_path(text: str) -> str:
    """A path or name in typewriter type that may break after each slash."""
    return r"\texttt{" + latex_escape(text).replace("/", r"/\allowbreak{}") + "}"


def _span(values, fmt=str) -> str:
    values = sorted(set(values))
    if not values:
        return "--"
    return fmt(values[0]) if len(values) == 1 else f"{fmt(values[0])}--{fmt(values[-1])}"


def _count(n: float) -> str:
    """Parameter count in a short form: 25,697 -> 25.7k, 9,483,265 -> 9.48M."""
    for size, unit in ((1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.0f}"


def protocol_summary(config: dict, papers: tuple[str, ...] | None = None) -> dict[str, str]:
    """The protocol of ``config``'s runs (those of experiments tagged with one of ``papers``; all if None):
    input dimensions, training points per prompt, steps, learning rates, model widths and depths,
    evaluation prompts and seeds, as short LaTeX-safe strings."""
    from ..config import train_spec

    exps = [e for e in config["experiments"] if papers is None or e.get("paper") in papers]
    tasks = list(dict.fromkeys(e["task"] for e in exps))
    runs = [r for r in iter_runs(config) if r[0] in tasks and any(r[1] in e["models"] and r[0] == e["task"]
                                                                    for e in exps)]
    specs = [train_spec(config, t, m, s) for t, m, s in runs]
    seeds = sorted({s for _, _, s in runs})
    out = {
        "tasks": str(len(tasks)),
        "dims": _span([_task_dims(config)[t] for t in tasks]),
        "points": _span([sp["curriculum"]["points"]["end"] for sp in specs]),
        "eval_points": _span([config["tasks"][t]["eval_points"] for t in tasks]),
        "steps": _span([sp["steps"] for sp in specs], lambda n: f"{n:,}"),
        "lr": _span([sp["model"]["learning_rate"] for sp in specs], lambda x: f"{x:g}"),
        "batch": _span([sp["batch_size"] for sp in specs]),
        "width": _span([sp["model"].get("d_model", 0) for sp in specs if sp["model"].get("d_model")]),
        "depth": _span([sp["model"].get("n_layer", 0) for sp in specs if sp["model"].get("n_layer")]),
        "sizes": _span([sp["model"]["size"] for sp in specs if sp["model"].get("size")]),
        "eval_prompts": _span([config["tasks"][t].get("eval_n_prompts", config["evaluation"]["n_prompts"])
                               for t in tasks], lambda n: f"{n:,}"),
        "seeds": f"{len(seeds)} ({', '.join(map(str, seeds))})",
        "runs": str(len(runs)),
        "precision": config["train"].get("precision", "fp32"),
    }
    return out


def _task_dims(config: dict) -> dict[str, int]:
    from ..config import task_spec
    from ..tasks import task_from_spec

    return {t: task_from_spec(task_spec(config, t)).n_dims for t in config["tasks"]}


def run_protocol_table(run: dict, paper: dict, run_params: pd.DataFrame, paper_params: pd.DataFrame,
                       hardware: str, train_seconds: float, config_name: str) -> str:
    """The "This run" table: this run's protocol beside each paper's. ``run``/``paper``: the configs;
    ``run_params``: metrics/param_counts.csv; ``paper_params``: the papers' reference counts."""
    this = protocol_summary(run)
    cols = {}
    for key in ("grazzi", "park"):
        s = protocol_summary(paper, (key,))
        p = paper_params[(paper_params.paper == key) & paper_params.config.str.contains(
            "standard" if key == "grazzi" else "")]
        s["params"] = _span(p.params_effective.astype(int), _count) if len(p) else "--"
        s.update({k: v for k, v in PAPER_FACTS[key].items() if k in ("precision", "hardware", "compute", "seeds")
                  or s.get(k, "--") == "--"})  # the papers' sizes are named ("standard"), not numbers
        cols[key] = s
    trained = set(m for e in run["experiments"] for m in e["models"])
    this["params"] = _span(run_params[run_params.model.isin(trained)].params.astype(int), _count)
    this["hardware"] = hardware
    this["compute"] = f"{format_duration(train_seconds)} of training in all"
    rows = [("Tasks trained", "tasks"), ("Input dimension $d$", "dims"), ("Training points per prompt", "points"),
            ("Evaluation points per prompt", "eval_points"), ("Training steps", "steps"), ("Batch size", "batch"),
            ("Learning rate", "lr"), ("Model width", "width"), ("Model depth (layers)", "depth"),
            ("Effective parameters", "params"), ("Evaluation prompts", "eval_prompts"), ("Seeds", "seeds"),
            ("Precision", "precision"), ("Hardware", "hardware"), ("Compute", "compute")]
    head = " & ".join(["", PAPER_TITLES["grazzi"], PAPER_TITLES["park"],
                       r"\textbf{This run}\newline{\footnotesize " + tt_path(config_name) + "}"])
    lines = [r"\begin{table}[tbp]", r"\centering", r"\small",
             r"\caption{This run's protocol beside the papers' (their columns: \texttt{workflow/config/paper.yaml}, "
             r"the papers' protocol as this package encodes it, and their published parameter counts). Ranges span "
             r"the runs of each column; Grazzi et al.'s widths are their ``standard'' size. The numbers in this PDF "
             r"come from the last column only.}",
             r"\label{tab:run-protocol}", FIT_TO_WIDTH,
             r"\begin{tabular}{@{}>{\raggedright\arraybackslash}p{3.2cm}>{\raggedright\arraybackslash}p{3.3cm}"
             r">{\raggedright\arraybackslash}p{3.3cm}>{\raggedright\arraybackslash}p{4.2cm}@{}}",
             r"\toprule", head + r" \\", r"\midrule"]
    for title, key in rows:
        cells = [cols["grazzi"].get(key, "--"), cols["park"].get(key, "--"), this.get(key, "--")]
        lines.append(" & ".join([title] + [latex_escape(str(c)) for c in cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]
    return "\n".join(lines)


def run_protocol_job(run_config: dict, paper_yaml: str, schema: str, run_params_csv: str, paper_params_csv: str,
                     metrics: list[str], config_name: str, out_tex: str) -> None:
    """``paper_yaml``: the papers' protocol (workflow/config/paper.yaml), resolved against ``schema``."""
    from snakemake.utils import validate

    from ..config import load_yaml

    paper = json.loads(json.dumps(load_yaml(paper_yaml)))
    validate(paper, schema)  # the schema's defaults, as the workflow fills them in
    train_s = sum(last_elapsed(m) for m in metrics)
    Path(out_tex).write_text(run_protocol_table(run_config, paper, pd.read_csv(run_params_csv),
                                                pd.read_csv(paper_params_csv), hardware_text(run_config),
                                                train_s, config_name))


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
]


def figure_map_tex() -> str:
    """The figure/table map: each of our float families, its label prefix and the papers' item it
    replicates. Each row references the first of our floats with that label prefix where one exists."""
    lines = [r"\begin{table}[tbp]", r"\centering", r"\small",
             r"\caption{Where each of our figures and tables sits in the papers. Numbering the spec marks as "
             r"unconfirmed is flagged; ``ours'' marks additions.}", r"\label{tab:paper-map}", FIT_TO_WIDTH,
             r"\begin{tabular}{@{}ll>{\raggedright\arraybackslash}p{7.5cm}@{}}", r"\toprule",
             r"Ours (label prefix) & Content & In the papers \\", r"\midrule"]
    for prefix, _kind, what, theirs in PAPER_MAP:
        lines.append(rf"\texttt{{{latex_escape(prefix)}}} & {what} & {theirs} \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]
    return "\n".join(lines)


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
                           checksums: pd.DataFrame, built: str) -> str:
    e = latex_escape
    files = "; ".join(rf"{tt_path(f)} (SHA-256 \texttt{{{h[:16]}}}\dots)" for f, h in config_files.items())
    first = stages["first"].dropna().min() if len(stages) else None
    last = stages["last"].dropna().max() if len(stages) else None
    span = (f"the run's first logged job started {first:%Y-%m-%d %H:%M} UTC, its last ended {last:%Y-%m-%d %H:%M} UTC"
            if first is not None and last is not None else "no job log was found")
    lines = ["% Generated by the workflow; do not edit.",
             r"\section{Provenance and compute}\label{sec:provenance}",
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
             "", r"\begin{table}[htbp]", r"\centering", r"\small",
             r"\caption{Machine and software of this run.}", r"\label{tab:environment}",
             r"\begin{tabular}{@{}ll@{\qquad}ll@{}}", r"\toprule"]
    left = list(hardware.items())
    right = list(versions.items())
    n = max(len(left), len(right))
    left += [("", "")] * (n - len(left))
    right += [("", "")] * (n - len(right))
    lines.append(r"Hardware & & Package & Version \\ \midrule")
    for (k1, v1), (k2, v2) in zip(left, right):
        lines.append(rf"{e(k1)} & {e(v1)} & {e(k2)} & \texttt{{{e(v2)}}} \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    total = float(stages.seconds.sum()) if len(stages) else 0.0
    train_total = sum(train_seconds.values())
    lines += [r"\paragraph{Compute.} Table~\ref{tab:compute} gives the wall time of each stage, summed over its "
              r"jobs from the attempt times the jobs write to their declared logs (\texttt{logs/<run>/<stage>/}; "
              r"jobs run in parallel, so the sum exceeds the elapsed time). Training alone, from the "
              rf"\texttt{{elapsed\_s}} column of the runs' \texttt{{train\_metrics.csv}}, took {format_duration(train_total)} "
              rf"over {len(train_seconds)} runs; all stages together {format_duration(total)}.", "",
              r"\begin{table}[htbp]", r"\centering", r"\small", r"\caption{Wall time per stage (summed over jobs).}",
              r"\label{tab:compute}", r"\begin{tabular}{@{}lrr@{}}", r"\toprule", r"Stage & Jobs & Time \\",
              r"\midrule"]
    for r in stages.itertuples():
        lines.append(rf"{e(r.stage)} & {r.jobs} & {format_duration(r.seconds) if r.seconds == r.seconds else '--'} \\")
    lines += [r"\midrule", rf"all & {int(stages.jobs.sum()) if len(stages) else 0} & {format_duration(total)} \\",
              r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    lines += [r"\paragraph{Evaluation prompts.} Every model and baseline of a task reads the same fixed prompt "
              r"set, written once and checked against the SHA-256 in its sidecar (\texttt{eval\_prompts.json}) "
              r"before each evaluation. Table~\ref{tab:prompt-checksums} lists them (first 16 hex digits).", "",
              r"\begin{table}[htbp]", r"\centering", r"\small", r"\caption{Evaluation prompt sets and their checksums.}",
              r"\label{tab:prompt-checksums}", FIT_TO_WIDTH, r"\begin{tabular}{@{}llll@{}}", r"\toprule",
              r"Prompt set & Shape & Seed & SHA-256 \\", r"\midrule"]
    for r in checksums.itertuples():
        lines.append(rf"\texttt{{{e(r.name)}}} & {e(r.shape)} & {r.seed} & \texttt{{{e(str(r.sha256)[:16])}}} \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]
    lines += [r"\paragraph{Our figures and the papers'.} Table~\ref{tab:paper-map} maps each family of our "
              r"figures and tables to the papers' numbering.", "", figure_map_tex()]
    return "\n".join(lines) + "\n"


def provenance_job(config: dict, config_files: list[str], metas: dict[str, str], metrics: list[str], logs_dir: str,
                   commit: str, out_section: str, out_appendix: str) -> None:
    """Writes the provenance section and the config appendix."""
    stages = stage_times(logs_dir)
    train = {m: last_elapsed(m) for m in metrics}
    built = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    text = provenance_section_tex(config, {f: file_sha256(f) for f in config_files}, commit, package_versions(),
                                  hardware_info(config), stages, train, prompt_checksums(metas), built)
    Path(out_section).write_text(text)
    Path(out_appendix).write_text(config_appendix_tex(config, config_files))
