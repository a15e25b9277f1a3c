"""The per-seed appendix table (rule ``table_seeds``): per task and model, each training seed's in-distribution
window error, from the per-seed curves the aggregation writes (``metrics/<task>/curves_per_seed.csv``), so that
a reader sees the spread behind the means of the error tables, figures and claims."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .labels import metric_info, metric_label, order_rows, task_title
from .latex import format_number, latex_escape

ERROR_LABEL = metric_label("squared_error")


def seed_window_errors(per_seed: pd.DataFrame, window: int, train_points: int | None) -> pd.DataFrame:
    """One row per model and seed: ``error``, the mean normalised metric over the last ``window`` positions
    before the training length (k < ``train_points``; None: every evaluated position), the window of the
    claims, verdicts and headline; ``first_k``/``last_k``: the window's ends.
    Columns: kind, name, label, seed, error, first_k, last_k."""
    if train_points is not None:
        per_seed = per_seed[per_seed.k < train_points]
    rows = []
    for (kind, name, label, seed), d in per_seed.sort_values("k").groupby(["kind", "name", "label", "seed"],
                                                                             sort=False):
        tail = d.tail(window)
        rows.append(dict(kind=kind, name=name, label=label, seed=int(seed), error=float(tail.normalized_mean.mean()),
                         first_k=int(tail.k.min()), last_k=int(tail.k.max())))
    return pd.DataFrame(rows, columns=["kind", "name", "label", "seed", "error", "first_k", "last_k"])


def _k_range(first: int, last: int) -> str:
    return f"$k = {first}$" if first == last else f"$k = {first}$--${last}$"


def seeds_table_tex(tasks: dict[str, dict], window: int, model_order: list[str] = ()) -> str:
    """A longtable (it may run over pages): per task a heading row (title, metric, window), then one row per
    model in ``model_order``: each seed's window error, their mean and, with several seeds, their range
    (max - min). ``tasks``: instance -> {"per_seed": csv, "meta": eval_prompts.json, "train_points": T}."""
    blocks, seeds = [], set()
    for task, info in tasks.items():
        spec, metric, _ = metric_info(info["meta"])
        errs = seed_window_errors(pd.read_csv(info["per_seed"]), window, info.get("train_points"))
        errs = errs[errs.kind == "model"]
        seeds |= set(errs.seed)
        blocks.append((task_title(spec, task), metric, errs))
    seeds = sorted(seeds)
    spread = any(e.groupby("name").seed.nunique().max() > 1 for _, _, e in blocks if not e.empty)
    cols = ["Model"] + [f"seed {s}" for s in seeds] + ["mean"] + (["range"] if spread else [])
    n = len(cols)
    head = " & ".join(cols) + r" \\"
    body, dash = [], False
    for title, metric, errs in blocks:
        if errs.empty:
            continue
        ks = _k_range(int(errs.first_k.min()), int(errs.last_k.max()))
        # the heading names the metric only where it is not the caption's error (it would widen the table)
        what = f" ({metric_label(metric)})" if metric_label(metric) != ERROR_LABEL else ""
        body += [r"\addlinespace", rf"\multicolumn{{{n}}}{{@{{}}l}}{{\textit{{{latex_escape(title)}}}{what}, {ks}}} \\"]
        models = order_rows(errs.drop_duplicates("name"), list(model_order))
        for name, label in zip(models.name, models.label):
            mine = errs[errs.name == name].set_index("seed").error
            cells = [format_number(mine[s], sig=True) if s in mine.index else "--" for s in seeds]
            dash |= len(mine) < len(seeds)
            cells.append(format_number(mine.mean(), sig=True))
            if spread:
                cells.append(format_number(mine.max() - mine.min(), sig=True) if len(mine) > 1 else "--")
            body.append(" & ".join([latex_escape(label)] + cells) + r" \\")
    caption = (rf"Per-seed results: each training seed's window error, the mean {ERROR_LABEL} (or the task's metric "
               rf"named in its heading) over the last "
               rf"{window} positions before the training length (the window of the claims and verdicts; each task's "
               r"$k$ in its heading), with the mean over seeds (the error tables' and figures' mean over the same "
               r"positions)" + (" and the range over seeds (largest minus smallest)" if spread else "") + "."
               + (" --: no run of this model with this seed." if dash else ""))
    cont = rf"\multicolumn{{{n}}}{{@{{}}l}}{{\small\textit{{Table~\ref*{{tab:seeds}}, continued}}}} \\"
    lines = [r"{\small", rf"\begin{{longtable}}{{@{{}}l{'r' * (n - 1)}@{{}}}}",
             rf"\caption{{{caption}}}\label{{tab:seeds}} \\", r"\toprule", head, r"\midrule", r"\endfirsthead",
             cont, r"\toprule", head, r"\midrule", r"\endhead", r"\bottomrule", r"\endfoot", *body,
             r"\end{longtable}}", ""]
    return "\n".join(lines)


def table_seeds_job(tasks: dict[str, dict], window: int, out_tex: str, model_order: list[str] = ()) -> None:
    Path(out_tex).write_text(seeds_table_tex(tasks, window, model_order))
