"""The "This run" table (``workflow/scripts/table_run_protocol.py``): the protocol of the run that built the
PDF beside the papers' -- data, training, model sizes, evaluation, seeds, precision, hardware and compute --
from the run's config and outputs and from the papers' protocol as ``workflow/config/paper.yaml`` encodes it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..config import iter_runs
from .latex import format_duration, latex_escape, table_tex
from .provenance import hardware_text, last_elapsed, tt_path

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
    body = []
    for title, key in rows:
        cells = [cols["grazzi"].get(key, "--"), cols["park"].get(key, "--"), this.get(key, "--")]
        body.append(" & ".join([title] + [latex_escape(str(c)) for c in cells]) + r" \\")
    caption = (r"This run's protocol beside the papers' (their columns: \texttt{workflow/config/paper.yaml}, "
               r"the papers' protocol as this package encodes it, and the reference parameter counts of "
               r"\texttt{param\_counts.csv}, measured from the releases' code or derived). Ranges span "
               r"the runs of each column; Grazzi et al.'s widths are their ``standard'' size. The numbers in this PDF "
               r"come from the last column only.")
    return table_tex(caption, "tab:run-protocol",
                     r"@{}>{\raggedright\arraybackslash}p{3.2cm}>{\raggedright\arraybackslash}p{3.3cm}"
                     r">{\raggedright\arraybackslash}p{3.3cm}>{\raggedright\arraybackslash}p{4.2cm}@{}",
                     head, body, r"\small", "tbp")


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
