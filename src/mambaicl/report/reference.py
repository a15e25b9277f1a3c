"""Reference numbers vs replicated (T5): the error-curve numbers of the reference CSVs beside our value.

Reference rows (``workflow/resources/reference/grazzi_simple_functions.csv`` and the normalised-error
rows of ``baselines_analytic.csv``) name a task, a model or baseline, a number of in-context examples
and a normalised error. None of them is a number printed in a paper's text: each row keeps where it
comes from (``SOURCE_KINDS``), and the table prints it. We look up the same point on our curves: the
task instance is the one configured with that generator (or, for isotropically trained models evaluated
on skewed data, the linear-regression task's ``skewed`` setting); the model through
``report.reference_models`` (reference name -> our model); baselines by their reference names. The
references assume d = 20; the table shows only the rows this run can compare and summarises the rest in
one sentence (how many, and why).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .labels import TASK_TITLES, row_key
from .latex import format_interval, latex_escape

# Where a reference number comes from: key -> (short name in the table, legend in the caption).
SOURCE_KINDS = {
    "paper_text": ("paper", "printed in the paper's text or tables"),
    "release_file": ("release file", "recomputed from a result file committed in the paper's release"),
    "release_code": ("release code", "measured by running the release's own code (on CPU), not a paper number"),
    "visual_reading": ("reading", "approximate visual reading of a plot in the release's notebooks (exploratory "
                                  "runs, not the paper's figures)"),
    "secondary": ("secondary", "from the abstract or a secondary source; the paper's text was not available"),
}
LS_SPIKE_NOTE = (r"$\ddagger$: least squares at $k = d$ interpolates the $d$ examples exactly. A noiseless "
                 r"linear target is then recovered, but a target that is not linear in $x$ (ReLU network, tree) "
                 r"is fit through a square random system whose condition number is heavy-tailed, so a few "
                 r"near-singular prompts dominate the mean (values in the thousands, in the reference "
                 r"measurement too); one position earlier or later the error is of order one.")
# Why a reference row is not in the table (``compare``'s status -> the summary's wording).
LEFT_OUT = {"task not run": "the task is not run in this configuration",
            "model not mapped": "the model has no counterpart in this run (\\texttt{report.reference\\_models})",
            "not comparable": "this run's task has another dimension than the references' $d = 20$",
            "not evaluated": "this run does not evaluate that $k$ or that baseline",
            "other scale": "the reference models were trained at the papers' scale and this run's models are "
                           "not (its baselines are compared)"}
PAPER_SCALE = "paper"  # the config's ``scale`` at which our trained models are comparable with the references


def source_kind(file: str, source: str) -> str:
    """``SOURCE_KINDS`` key of a reference row from its file and ``source`` column."""
    if file == "grazzi_simple_functions":
        return "visual_reading"
    text = source.lower()
    if "result files" in text or "sweep results" in text:
        return "release_file"
    if "code" in text:
        return "release_code"
    return "secondary"


# reference task name -> our generator
TASK_GENERATORS = {"linear_regression": "linear_regression", "skewed_linear_regression": "skewed_linear_regression",
                   "sparse_linear_regression": "sparse_linear_regression", "relu_2nn_regression": "relu_nn",
                   "decision_tree": "decision_tree"}
# reference baseline name -> ours
BASELINE_NAMES = {"least_squares": "least_squares", "least_squares_min_norm": "least_squares",
                  "knn_3": "nearest_neighbors", "averaging": "averaging", "lasso_alpha_0.01": "lasso_0.01",
                  "nn_gd": "nn_gd", "xgboost": "xgboost", "greedy_tree": "greedy_tree",
                  "greedy_tree_unlimited": "greedy_tree", "greedy_tree_depth4": "greedy_tree_depth4"}
REFERENCE_DIMS = 20


def reference_rows(simple_functions_csv: str, baselines_csv: str) -> pd.DataFrame:
    """Rows of both files with a position: file, task, train/eval distribution, name, k, value, relation, and
    where the value comes from (``source_kind``, ``source_text``)."""
    g = pd.read_csv(simple_functions_csv)
    g = g[g.n_in_context.notna()]
    a = pd.DataFrame({"source": "grazzi_simple_functions", "task": g.task, "train": g.train_distribution,
                      "eval": g.eval_distribution, "name": g.model, "k": g.n_in_context.astype(int),
                      "reference": g.normalized_error, "relation": g.relation,
                      "source_kind": "visual_reading", "source_text": g.source})
    b = pd.read_csv(baselines_csv)
    b = b[(b.quantity == "normalized_error") & (b.kind == "measured") & b.n_in_context.astype(str).str.isdigit()]
    b = pd.DataFrame({"source": "baselines_analytic", "task": b.task, "train": "isotropic", "eval": "isotropic",
                      "name": b.baseline_or_object, "k": b.n_in_context.astype(int), "reference": b.value,
                      "relation": "approx",
                      "source_kind": [source_kind("baselines_analytic", str(x)) for x in b.source],
                      "source_text": b.source})
    b.loc[b.task == "skewed_linear_regression", ["train", "eval"]] = "skewed"
    g_skew = a.task == "skewed_linear_regression"
    a.loc[g_skew & (a["train"] == "isotropic"), "train"] = "skewed"
    return pd.concat([a, b], ignore_index=True)


def compare(rows: pd.DataFrame, curves: dict[tuple[str, str], str], task_dims: dict[str, int],
            instances: dict[tuple[str, str], str], models: dict[str, str]) -> pd.DataFrame:
    """Our normalised error at each reference point.

    ``curves``: (task instance, setting) -> curves csv; ``instances``: (reference task, "train>eval") ->
    (task instance, setting) key into ``curves``; ``models``: reference model -> our model name."""
    loaded: dict[tuple[str, str], pd.DataFrame] = {}
    out = []
    for r in rows.itertuples():
        key = instances.get((r.task, f"{r.train}>{r.eval}"))
        ours = low = high = float("nan")
        status, kind, label = "task not run", "", ""
        ours_name = BASELINE_NAMES.get(r.name, models.get(r.name))
        if key is not None and ours_name is None:
            status = "model not mapped"
        elif key is not None:
            if task_dims[key[0]] != REFERENCE_DIMS:
                status = f"not comparable (d = {task_dims[key[0]]})"
            else:
                df = loaded.setdefault(key, pd.read_csv(curves[key]))
                hit = df[(df.name == ours_name) & (df.k == r.k)]
                if hit.empty:
                    status = "not evaluated"
                else:
                    h = hit.iloc[0]
                    ours, status, kind, label = float(h.normalized_mean), "compared", h.kind, h.label
                    low, high = h.get("normalized_ci_low", float("nan")), h.get("normalized_ci_high", float("nan"))
        out.append({**r._asdict(), "ours_name": ours_name or "", "ours_kind": kind, "ours_label": label,
                    "ours": ours, "ours_ci_low": low, "ours_ci_high": high, "status": status})
    return pd.DataFrame(out).drop(columns="Index")


def reference_comparison_job(simple_functions_csv: str, baselines_csv: str, curves: dict[str, str],
                             task_dims: dict[str, int], instances: dict[str, list[str]], models: dict[str, str],
                             out_csv: str) -> None:
    """Snakemake-friendly wrapper: ``curves`` keys are "instance/setting"; ``instances`` maps
    "reference task/train>eval" to [instance, setting]."""
    rows = reference_rows(simple_functions_csv, baselines_csv)
    inst = {tuple(k.split("/", 1)): tuple(v) for k, v in instances.items()}
    cur = {tuple(k.split("/", 1)): v for k, v in curves.items()}
    compare(rows, cur, task_dims, inst, models).to_csv(out_csv, index=False)


def left_out_sentence(df: pd.DataFrame, table: bool = True) -> str:
    """One sentence: how many reference rows are left out (of the table, if ``table``), and why (by
    ``compare``'s status)."""
    rest = df[df.status != "compared"]
    if rest.empty:
        return f"All {len(df)} reference numbers with a position are compared."
    reasons = rest.status.str.replace(r" \(d = \d+\)", "", regex=True).value_counts()
    parts = [f"{n} because {LEFT_OUT.get(why, why)}" for why, n in reasons.items()]
    lead = (f"Of the {len(df)} reference numbers with a position, {len(rest)} are left out: " if table else
            f"None of the {len(df)} reference numbers with a position is comparable in this run: ")
    return lead + "; ".join(parts) + "."


def _sort_key(r, model_order: list[str]) -> tuple:
    tasks = list(TASK_GENERATORS)
    dist = f"{r.train}>{r.eval}"
    return (tasks.index(r.task) if r.task in tasks else len(tasks), dist != "isotropic>isotropic", dist,
            row_key(r.ours_kind or "baseline", r.ours_name, model_order), int(r.k))


def spike_mark(r) -> str:
    """The footnote mark of least squares at k = d (``LS_SPIKE_NOTE``), else ""."""
    return r"$^\ddagger$" if r.ours_name == "least_squares" and int(r.k) == REFERENCE_DIMS else ""


def table_reference_job(csv: str, out_tex: str, model_order: list[str] = (), ci: float | None = None,
                        scale: str = PAPER_SCALE) -> None:
    """The compared rows only, in task, model (config order, then baselines in registry order) and k order,
    each with its reference value, where that value comes from (``SOURCE_KINDS``, legend in the caption)
    and our value with its bootstrap interval; then the sentence that summarises the rows left out. At a
    ``scale`` other than the papers', trained models are left out (baselines do not depend on it)."""
    from .latex import interval_text

    df = pd.read_csv(csv, keep_default_na=False, na_values={"ours", "ours_ci_low", "ours_ci_high"})
    for col in ("ours_ci_low", "ours_ci_high"):
        df[col] = pd.to_numeric(df[col], errors="coerce") if col in df else float("nan")
    if scale != PAPER_SCALE:
        df.loc[(df.status == "compared") & (df.ours_kind == "model"), "status"] = "other scale"
    cmp = df[df.status == "compared"]
    rows = sorted(cmp.itertuples(), key=lambda r: _sort_key(r, list(model_order)))
    if not rows:
        Path(out_tex).write_text(f"% Generated by the workflow; do not edit.\n{left_out_sentence(df, False)}\n")
        return
    summary = (f"Table~\\ref{{tab:reference}} sets the {len(rows)} comparable numbers beside ours. "
               + left_out_sentence(df))
    kinds = list(dict.fromkeys(r.source_kind for r in rows))
    legend = "; ".join(f"``{SOURCE_KINDS[k][0]}'': {SOURCE_KINDS[k][1]}" for k in kinds)
    spike = any(spike_mark(r) for r in rows)
    notes = [f"Source of the reference value: {legend}."]
    if ci is not None:
        notes.append(interval_text(ci))
    notes.append(r"iso.: isotropic inputs. $\approx$: a reading; $>$: the reference curve lies above the value.")
    if spike:
        notes.append(LS_SPIKE_NOTE)
    head = r"Task & Train$\to$eval & Model & $k$ & Reference & Source & Ours \\"
    lines = ["% Generated by the workflow; do not edit.", summary, "",
             r"{\scriptsize", r"\setlength{\tabcolsep}{3pt}", r"\begin{longtable}{lllrrlr}",
             rf"\caption{{Reference numbers vs replicated: the {len(rows)} normalised-error numbers of the "
             rf"reference files that this run can compare (same task, $d = {REFERENCE_DIMS}$, same $k$), beside our "
             rf"value. None is a number printed in the papers. " + " ".join(notes) + r"}\label{tab:reference}\\",
             r"\toprule", head, r"\midrule", r"\endfirsthead", r"\toprule", head, r"\midrule", r"\endhead"]
    prev_task = None
    for r in rows:
        task = TASK_TITLES.get(TASK_GENERATORS.get(r.task, r.task), r.task.replace("_", " "))
        if prev_task is not None and task != prev_task:
            lines.append(r"\midrule")
        rel = {"greater_than": "$>$", "less_than": "$<$"}.get(r.relation, "")
        if r.source_kind == "visual_reading" and r.relation == "approx":
            rel = r"$\approx$"
        ours = format_interval(float(r.ours), float(r.ours_ci_low), float(r.ours_ci_high)) if ci is not None else \
            format_interval(float(r.ours), float("nan"), float("nan"))
        dist = "$\\to$".join({"isotropic": "iso."}.get(x, x) for x in (r.train, r.eval))
        lines.append(" & ".join([latex_escape(task) if task != prev_task else "", dist,
                                 latex_escape(r.ours_label or r.name) + spike_mark(r), str(int(r.k)),
                                 rel + f"{float(r.reference):g}", SOURCE_KINDS[r.source_kind][0], ours]) + r" \\")
        prev_task = task
    lines += [r"\bottomrule", r"\end{longtable}", "}", ""]
    Path(out_tex).write_text("\n".join(lines))
