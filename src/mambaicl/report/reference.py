"""Published vs replicated (T5): every error-curve number of the reference CSVs beside our value.

Reference rows (``workflow/resources/reference/grazzi_simple_functions.csv`` and the normalised-error
rows of ``baselines_analytic.csv``) name a task, a model or baseline, a number of in-context examples
and a normalised error. We look up the same point on our curves: the task instance is the one
configured with that generator (or, for isotropically trained models evaluated on skewed data, the
linear-regression task's ``skewed`` setting); the model through ``report.reference_models`` (published
name -> our model); baselines by their published names. The references assume d = 20; where our
task has another dimension the row is kept and marked as not comparable.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# published task name -> our generator
TASK_GENERATORS = {"linear_regression": "linear_regression", "skewed_linear_regression": "skewed_linear_regression",
                   "sparse_linear_regression": "sparse_linear_regression", "relu_2nn_regression": "relu_nn",
                   "decision_tree": "decision_tree"}
# published baseline name -> ours
BASELINE_NAMES = {"least_squares": "least_squares", "least_squares_min_norm": "least_squares",
                  "knn_3": "nearest_neighbors", "averaging": "averaging", "lasso_alpha_0.01": "lasso_0.01",
                  "nn_gd": "nn_gd", "xgboost": "xgboost", "greedy_tree": "greedy_tree",
                  "greedy_tree_unlimited": "greedy_tree", "greedy_tree_depth4": "greedy_tree_depth4"}
REFERENCE_DIMS = 20


def reference_rows(simple_functions_csv: str, baselines_csv: str) -> pd.DataFrame:
    """Comparable rows of both files: source, task, train/eval distribution, name, k, value, relation."""
    g = pd.read_csv(simple_functions_csv)
    g = g[g.n_in_context.notna()]
    a = pd.DataFrame({"source": "grazzi_simple_functions", "task": g.task, "train": g.train_distribution,
                      "eval": g.eval_distribution, "name": g.model, "k": g.n_in_context.astype(int),
                      "published": g.normalized_error, "relation": g.relation})
    b = pd.read_csv(baselines_csv)
    b = b[(b.quantity == "normalized_error") & (b.kind == "measured") & b.n_in_context.astype(str).str.isdigit()]
    b = pd.DataFrame({"source": "baselines_analytic", "task": b.task, "train": "isotropic", "eval": "isotropic",
                      "name": b.baseline_or_object, "k": b.n_in_context.astype(int), "published": b.value,
                      "relation": "approx"})
    b.loc[b.task == "skewed_linear_regression", ["train", "eval"]] = "skewed"
    g_skew = a.task == "skewed_linear_regression"
    a.loc[g_skew & (a["train"] == "isotropic"), "train"] = "skewed"
    return pd.concat([a, b], ignore_index=True)


def compare(rows: pd.DataFrame, curves: dict[tuple[str, str], str], task_dims: dict[str, int],
            instances: dict[tuple[str, str], str], models: dict[str, str]) -> pd.DataFrame:
    """Our normalised error at each reference point.

    ``curves``: (task instance, setting) -> curves csv; ``instances``: (published task, "train>eval") ->
    (task instance, setting) key into ``curves``; ``models``: published model -> our model name."""
    loaded: dict[tuple[str, str], pd.DataFrame] = {}
    out = []
    for r in rows.itertuples():
        key = instances.get((r.task, f"{r.train}>{r.eval}"))
        ours, status = float("nan"), "task not run"
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
                    ours, status = float(hit.normalized_mean.iloc[0]), "compared"
        out.append({**r._asdict(), "ours_name": ours_name or "", "ours": ours, "status": status})
    return pd.DataFrame(out).drop(columns="Index")


def reference_comparison_job(simple_functions_csv: str, baselines_csv: str, curves: dict[str, str],
                             task_dims: dict[str, int], instances: dict[str, list[str]], models: dict[str, str],
                             out_csv: str) -> None:
    """Snakemake-friendly wrapper: ``curves`` keys are "instance/setting"; ``instances`` maps
    "published task/train>eval" to [instance, setting]."""
    rows = reference_rows(simple_functions_csv, baselines_csv)
    inst = {tuple(k.split("/", 1)): tuple(v) for k, v in instances.items()}
    cur = {tuple(k.split("/", 1)): v for k, v in curves.items()}
    compare(rows, cur, task_dims, inst, models).to_csv(out_csv, index=False)


def table_reference_job(csv: str, out_tex: str) -> None:
    from .latex import format_number, latex_escape

    df = pd.read_csv(csv, keep_default_na=False)
    n_cmp = int((df.status == "compared").sum())
    lines = [r"{\scriptsize", r"\setlength{\tabcolsep}{3pt}",
             r"\begin{longtable}{lllrrrl}",
             rf"\caption{{Published vs replicated: every normalised-error number of the reference files beside "
             rf"our value at the same point ({n_cmp} of {len(df)} comparable in this run). ``approx'' values were "
             r"read off the releases' figures and notebooks.}\label{tab:reference}\\",
             r"\toprule", r"Task & Train$\to$eval & Model & $k$ & Published & Ours & Status \\", r"\midrule",
             r"\endfirsthead", r"\toprule", r"Task & Train$\to$eval & Model & $k$ & Published & Ours & Status \\",
             r"\midrule", r"\endhead"]
    for r in df.itertuples():
        ours = format_number(float(r.ours)) if r.status == "compared" else "--"
        rel = {"greater_than": "$>$", "less_than": "$<$"}.get(r.relation, "")
        lines.append(" & ".join([latex_escape(r.task), latex_escape(f"{r.train}>{r.eval}").replace(">", r"$\to$"),
                                 latex_escape(r.name), str(r.k), rel + format_number(float(r.published), 2), ours,
                                 latex_escape(r.status)]) + r" \\")
    lines += [r"\bottomrule", r"\end{longtable}", "}", ""]
    Path(out_tex).write_text("\n".join(lines))
