"""One job per table rule (``workflow/scripts/table_*.py``): LaTeX tables from the stages' CSVs and the config."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..analysis.verdicts import SYMBOLS
from ..config import iter_runs, model_label, seeds_of, train_spec
from .labels import metric_info, metric_label, order_rows, report_k_values, row_key, task_title
from .latex import error_table_tex, format_interval, format_number, interval_text, latex_escape, table_tex


# ``status`` of a row of ``param_counts.csv`` -> (mark, caption legend); see that file's README.
PARAM_STATUS = {
    "computed_from_release": ("r", "counted by instantiating the release's model code"),
    "derived_and_measured": ("m", "derived from the per-block formulas and measured on the release"),
    "derived": ("f", "derived from the per-block formulas, which reproduce every count the releases give"),
    "derived_to_be_confirmed": ("f?", "derived from the formulas with an assumed setting (to be confirmed)"),
}


def reference_status(source: str, reference: pd.DataFrame) -> str:
    """``status`` of the reference row behind ``published_source`` ("paper: config"); "" if not found."""
    paper, _, cfg = str(source).partition(": ")
    rows = reference[(reference.paper == paper) & (reference.config == cfg)]
    return str(rows.status.iloc[0]) if not rows.empty else ""


def table_param_counts_job(counts_csv: str, out_tex: str, reference_csv: str | None = None) -> None:
    """Every configured model's effective count beside the reference count for its size, each reference marked
    with where it comes from (``PARAM_STATUS``, from ``reference_csv``): none is a count printed in a paper."""
    df = pd.read_csv(counts_csv)
    ref = pd.read_csv(reference_csv) if reference_csv else pd.DataFrame(columns=["paper", "config", "status"])
    used, body = [], []
    for r in df.itertuples():
        if pd.isna(r.published):
            pub = "--"
            used.append("--")
        else:
            st = reference_status(r.published_source, ref)
            mark = PARAM_STATUS.get(st, ("?", ""))[0]
            used.append(st)
            pub = f"{int(r.published):,}" + (rf"\textsuperscript{{{mark}}}" if reference_csv else "")
        body.append(f"{latex_escape(r.label)} & \\texttt{{{latex_escape(r.backbone)}}} & {r.d_model} & {r.n_layer} & "
                    f"{r.params:,} & {pub} \\\\")
    legend = [f"\\textsuperscript{{{m}}}: {text}" for s, (m, text) in PARAM_STATUS.items() if s in used]
    if "--" in used:
        legend.append("--: the reference files give no count for this size")
    caption = (r"Effective parameters (trainable, receiving gradients) of every configured model, counted by "
               r"instantiating it, beside the reference count for that size from the papers' releases"
               + ("; " + "; ".join(legend) if legend else "") + ".")
    Path(out_tex).write_text(table_tex(caption, "tab:param-counts", "llrrrr",
                                       r"Model & Backbone & $d$ & Layers & Parameters & Reference", body,
                                       size="", placement="t"))  # no font size: the natural one


def table_errors_job(task: str, curves_csv: str, data_meta: str, k_values: list[int], out_tex: str,
                     model_order: list[str] = (), ci: float | None = None) -> None:
    spec, metric, _ = metric_info(data_meta)
    curves = pd.read_csv(curves_csv)
    caption = (f"{latex_escape(task_title(spec, task))}: {metric_label(metric)} after $k$ in-context examples "
               "(mean over seeds and evaluation prompts).")
    Path(out_tex).write_text(error_table_tex(curves, report_k_values(k_values, curves), caption,
                                             f"tab:errors-{task.replace('_', '-')}", model_order, ci))


def training_table_job(config: dict, out_tex: str) -> None:
    """One row per experiment group of the config: task, models, schedule, learning rates, clipping,
    steps and seeds, as the training jobs receive them (``mambaicl.config.train_spec``)."""
    rows, seen = [], set()
    for task, model, seed in iter_runs(config):
        if (task, model) in seen:
            continue
        seen.add((task, model))
        spec = train_spec(config, task, model, seed)
        rows.append(dict(task=task, model=model_label(config, model), schedule=spec["schedule"],
                         lr=spec["model"]["learning_rate"], clip=spec["grad_clip"], steps=spec["steps"],
                         precision=spec.get("precision", "fp32"),
                         seeds=", ".join(str(s) for s in seeds_of(config, task, model))))
    df = pd.DataFrame(rows)
    keys = ["task", "schedule", "lr", "clip", "steps", "precision", "seeds"]
    grouped = df.groupby(keys, sort=False, dropna=False)["model"].apply(lambda m: ", ".join(dict.fromkeys(m)))
    caption = (r"Training as configured for this run: Adam $(0.9, 0.999)$ without weight decay, batch "
               rf"{config['train']['batch_size']}, fresh prompts at every step; schedule (cosine annealing to zero or "
               r"constant), learning rate, gradient-norm clip, steps and seeds per task and group of models; "
               r"clip --: no clipping.")
    body = []
    for (task, schedule, lr, clip, steps, precision, seeds), models in grouped.items():
        sched = schedule + ("" if precision == "fp32" else f", {precision}")
        clip_s = "--" if clip is None or pd.isna(clip) else f"{clip:g}"
        body.append(" & ".join([latex_escape(task), latex_escape(models), sched, f"{lr:g}", clip_s, f"{steps:,}",
                                seeds]) + r" \\")
    Path(out_tex).write_text(table_tex(caption, "tab:training", "llllrrl",
                                       "Task & Models & Schedule & LR & Clip & Steps & Seeds", body, r"\scriptsize",
                                       "tbp"))


def window_means(curves, window: int):
    """Mean normalised metric over each curve's last ``window`` evaluated positions: (kind, name, label) -> value."""
    return (curves.sort_values("k").groupby(["kind", "name", "label"], sort=False)["normalized_mean"]
            .apply(lambda s: s.tail(window).mean()))


def table_settings_job(title: str, task: str, curves: dict[str, str], window: int, out_tex: str,
                       model_order: list[str] = ()) -> None:
    """Rows: models in ``model_order``, then baselines in registry order; columns: settings; cells: mean
    normalised metric over the last ``window`` positions each curve has (orthogonal queries exist only for
    k < d). The per-position intervals are those of the settings figure; a window mean has none of its own."""
    cols = {s: window_means(pd.read_csv(p), window) for s, p in curves.items()}
    wide = pd.DataFrame(cols)
    keys = [row_key(kind, name, list(model_order)) for kind, name, _ in wide.index]
    wide = wide.iloc[sorted(range(len(wide)), key=keys.__getitem__)]
    names = [latex_escape(s.replace("_", " ")) for s in curves]
    n = len(names)
    dash = (r" --: not evaluated in this setting (a baseline that does not apply to it, or a model not run on it)."
            if wide.isna().to_numpy().any() else "")
    caption = (rf"{latex_escape(title)}: normalized error per evaluation setting, mean over the last {window} "
               rf"positions each curve reaches (mean over seeds and prompts; per-position bootstrap intervals in "
               rf"Figure~\ref{{fig:settings-{task.replace('_', '-')}}}).{dash}")
    head = " & ".join(["Model"] + [rf"\rotatebox{{60}}{{{c}}}" for c in names])
    body, prev = [], None
    for (kind, _, label), row in wide.iterrows():
        if prev == "model" and kind == "baseline":
            body.append(r"\midrule")
        prev = kind
        body.append(" & ".join([latex_escape(label)] + [format_number(v, sig=True) for v in row]) + r" \\")
    Path(out_tex).write_text(table_tex(caption, f"tab:settings-{task.replace('_', '-')}", f"l{'r' * n}", head, body,
                                       r"\scriptsize", "tbp"))


def table_retrieval_job(title: str, task: str, curves: dict[str, str], extra_csv: str, out_tex: str,
                        model_order: list[str] = (), ci: float | None = None) -> None:
    """Park's MQAR table (T2): per model and baseline, the normalised squared error, the nearest-value
    accuracy and the release's key-match error on the standard set, then nearest-value accuracy per
    further setting (e.g. noisy queries); with ``ci``, each with the half-width of its bootstrap interval.
    Rows: models in ``model_order``, then baselines in registry order."""
    extra = pd.read_csv(extra_csv)
    std = pd.read_csv(curves["standard"])
    last = std.sort_values("k").groupby(["kind", "name"], sort=False).last()
    others = [s for s in curves if s != "standard"]
    head = ["Model", "MSE", "NV acc.", "key-match err."] + [rf"NV acc. {latex_escape(s.replace('_', ' '))}"
                                                             for s in others]
    show_ci = ci is not None

    def fmt(mean, low, high):
        return format_interval(mean, low, high) if show_ci else format_number(mean, sig=True)

    dashes = []

    def cell(setting, kind, name, metric):
        d = extra[(extra.setting == setting) & (extra.kind == kind) & (extra.name == name) & (extra.metric == metric)]
        if d.empty:
            dashes.append(1)
            return "--"
        r = d.iloc[0]
        return fmt(r["mean"], r.get("ci_low", float("nan")), r.get("ci_high", float("nan")))

    body, prev = [], None
    rows = order_rows(std.drop_duplicates(["kind", "name"]), list(model_order))
    for kind, name, label in zip(rows.kind, rows.name, rows.label):
        if prev == "model" and kind == "baseline":
            body.append(r"\midrule")
        prev = kind
        m = last.loc[(kind, name)]
        cells = [fmt(m.normalized_mean, m.get("normalized_ci_low", float("nan")),
                     m.get("normalized_ci_high", float("nan"))),
                 cell("standard", kind, name, "nearest_value_accuracy"),
                 cell("standard", kind, name, "key_match_error")]
        cells += [cell(s, kind, name, "nearest_value_accuracy") for s in others]
        body.append(" & ".join([latex_escape(label)] + cells) + r" \\")
    notes = (" " + interval_text(ci) if show_ci else "") + (
        " --: not evaluated (a metric or setting this model or baseline has no scores for)." if dashes else "")
    caption = (rf"{latex_escape(title)}: normalized squared error (MSE), nearest-value accuracy (NV acc., the "
               r"retrieval metric) and the released key-match error on the standard set, and nearest-value accuracy "
               rf"on the further evaluation sets (mean over seeds and prompts).{notes}")
    Path(out_tex).write_text(table_tex(caption, f"tab:retrieval-{task.replace('_', '-')}", f"l{'r' * (len(head) - 1)}",
                                       " & ".join(head), body, r"\scriptsize", "tbp"))


# Status of a cell of Park et al.'s Table 1 (``park_table1.csv``) -> its mark in the verdict table and the
# caption's explanation; corroborated cells carry no mark.
TABLE1_STATUS = {
    "corroborated": ("", ""),
    "partially_corroborated": (r"$^\dagger$", r"$\dagger$: only the direction is corroborated (that the model "
                                               r"does worse or on par), not $\blacktriangle$ vs $\times$ or the "
                                               r"exact cell"),
    "unverified": (r"$^\ddagger$", r"$\ddagger$: unverified, no independent source for the cell"),
}


def table_verdicts_job(verdicts_csv: str, task_titles: dict[str, str], model_labels: dict[str, str],
                       out_tex: str, table1_csv: str | None = None, model_order: list[str] = ()) -> None:
    """Task x model: our verdict (score) beside Park et al.'s, with each of their cells' status from
    ``table1_csv`` (P's Table 1 as reconstructed from the abstract and secondary sources; the paper's text
    was not available), so that no uncorroborated cell reads as the paper's. Columns: models in
    ``model_order``."""
    df = pd.read_csv(verdicts_csv, keep_default_na=False)
    status = {}
    if table1_csv is not None:
        status = {(r.task, r.model): r.status for r in pd.read_csv(table1_csv).itertuples()}
    models = sorted(dict.fromkeys(df.model), key=lambda m: row_key("model", m, list(model_order)))
    used = set()
    body = []
    for task, d in df.groupby("task", sort=False):
        cells = []
        for m in models:
            row = d[d.model == m]
            if row.empty:
                cells.append("--")
                used.add("--")
                continue
            r = row.iloc[0]
            ours = f"{SYMBOLS[r.verdict]} ({format_number(float(r.score), sig=True)})"
            if r.published:
                st = status.get((r.published_task, r.column), "unknown")
                mark = TABLE1_STATUS.get(st, (r"$^?$", ""))[0]
                used.add(st)
                theirs = SYMBOLS.get(r.published, "?") + mark
            else:
                theirs = "n/a"
                used.add("n/a")
            cells.append(f"{ours} / {theirs}")
        title = latex_escape(task_titles.get(task, task))
        if "extension" in d and str(d.extension.iloc[0]) == "True":  # our extra row, e.g. the corrected construction
            title += r" \emph{(ours, not in Table~1)}"
        body.append(" & ".join([title] + cells) + r" \\")
    notes = [TABLE1_STATUS[s][1] for s in TABLE1_STATUS if TABLE1_STATUS[s][1] and s in used]
    if "n/a" in used:
        notes.append("n/a: no cell in Park et al.'s Table~1")
    if "--" in used:
        notes.append("--: the model is not run on this task")
    legend = ("; ".join(notes) + ".") if notes else ""
    caption = (r"Park et al.'s Table~1 replicated: our verdict from the measured curves at the window the "
               r"text states (score in parentheses: window error, or accuracy for parity), then Park et al.'s "
               r"verdict as reconstructed from their abstract and secondary sources (their paper's text was not "
               r"available; unmarked cells are corroborated there). "
               r"\checkmark{} on par, $\blacktriangle$ performance gap, $\times$ fails to learn; the rule is "
               rf"stated in the text. {legend}")
    head = " & ".join(["Task"] + [latex_escape(model_labels.get(m, m)) for m in models])
    Path(out_tex).write_text(table_tex(caption, "tab:verdicts", f"l{'c' * len(models)}", head, body, r"\small",
                                       "tbp"))
