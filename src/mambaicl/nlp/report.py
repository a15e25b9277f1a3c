"""Tables, figures and macros of the NLP study, and the workflow jobs that write them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..report.latex import (float_tex, format_number, latex_escape, macro_name, macros_tex, table_tex,
                            tabular_lines)
from .models import model_spec
from .tasks import CATEGORIES, TASK_INFO, TASK_NAMES


# Tasks whose definition is G's (no substitute relation); their mean is comparable with G's.
MATCHED_TASKS = [t for t in TASK_NAMES if not TASK_INFO[t].substitute]
# G's Figure 7 models (spec 11.4); G's curves come from ``grazzi_nlp_context_length.csv`` (recomputed from
# the release's result files).
FIG7_MODELS = ("mamba_370m", "mamba_2.8b", "rwkv4_pile_430m", "rwkv4_pile_1.5b", "rwkv4_pile_3b")
# How the reference curves are labelled: their status in workflow/resources/reference/README.md.
REFERENCE_CURVE_LABEL = "G et al. (recomputed from release files)"
TASK_TABLE_MODELS = 6  # models per block of the per-task comparison table


def task_label(name: str) -> str:
    info = TASK_INFO[name]
    return f"{info.label} (substitute: {info.substitute})" if info.substitute else info.label


def accuracy_wide(results: dict[str, str], setting: str = "icl") -> pd.DataFrame:
    """task x model accuracy from per-model summary CSVs."""
    cols = {}
    for model, path in results.items():
        df = pd.read_csv(path)
        cols[model] = df[df.setting == setting].set_index("task").accuracy
    return pd.DataFrame(cols).reindex(TASK_NAMES)


# How each precision is named in the text and tables
DTYPE_LABEL = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}


def precisions(metas: dict[str, str]) -> dict[str, dict]:
    """model -> {"dtype", "reason", "device"} from each evaluation's meta.json. A meta.json written before the
    precision was recorded has none: those runs were all fp32 on CPU."""
    out = {}
    for m, path in metas.items():
        meta = json.loads(Path(path).read_text())
        out[m] = {"dtype": meta.get("dtype", "float32"), "reason": meta.get("dtype_reason", ""),
                  "device": meta.get("device", "cpu")}
    return out


def precision_sentence(prec: dict[str, dict]) -> str:
    """One plain-text sentence (the macro writer escapes it): the precision the models ran in, and which ran in
    another and why."""
    fp32 = [m for m, p in prec.items() if p["dtype"] == "float32"]
    other = [m for m in prec if m not in fp32]
    where = " and ".join(sorted({"GPU" if p["device"].startswith("cuda") else "CPU" for p in prec.values()}))
    if not other:
        return f"Every model ran in fp32 on the {where}, Grazzi et al.'s precision."
    parts = [f"{model_spec(m).label} in {DTYPE_LABEL[prec[m]['dtype']]} ("
             + ("its fp32 weights do not fit on one GPU" if "does not fit" in prec[m]["reason"]
                else "as the configuration sets it") + ")" for m in other]
    lead = (f"Every other model ran in fp32 on the {where}, Grazzi et al.'s precision; " if fp32
            else f"No model ran in fp32 (on the {where}): ")
    return lead + "; ".join(parts) + "."


def accuracy_table_tex(results: dict[str, str], shots: int, precision: dict[str, str] | None = None) -> str:
    """``precision``: model -> dtype name, shown as a row under the model names when given."""
    icl, zero = accuracy_wide(results, "icl"), accuracy_wide(results, "zero_shot")
    models = list(results)
    head = " & ".join(["Category", "Task"] + [rf"\multicolumn{{2}}{{c}}{{{latex_escape(model_spec(m).label)}}}"
                                              for m in models])
    sub = " & ".join(["", ""] + ["0-shot", f"{shots}-shot"] * len(models))
    prec_row = [" & ".join(["", "precision"] + [rf"\multicolumn{{2}}{{c}}{{{DTYPE_LABEL[precision[m]]}}}"
                                                 for m in models])] if precision else []
    caption = (rf"Accuracy per task, zero-shot baseline and {shots}-shot ICL, for the models of this run. "
               r"Substitute tasks are named (no offline source for the original relation). Mean of 18: the "
               r"unweighted mean over all 18 tasks, substitutes included."
               + (r" Precision: the floating-point format each model ran in (fp32 wherever it fits on the GPU)."
                  if precision else "")
               + (r" --: no result for this task and model." if zero.isna().to_numpy().any()
                  or icl.isna().to_numpy().any() else ""))
    body = []
    for t in TASK_NAMES:
        cells = []
        for m in models:
            cells += ["--" if pd.isna(v) else format_number(v, 2) for v in (zero.at[t, m], icl.at[t, m])]
        body.append(" & ".join([TASK_INFO[t].category, latex_escape(task_label(t))] + cells) + r" \\")
    body.append(r"\midrule")
    cells = []
    for m in models:
        cells += [format_number(zero[m].mean(), 3), format_number(icl[m].mean(), 3)]
    body.append(" & ".join(["", "mean of 18"] + cells) + r" \\")
    return table_tex(caption, "tab:nlp-accuracy", f"ll{'rr' * len(models)}", [head, *prec_row, sub], body,
                     r"\small", "t")


# Where G's NLP numbers come from (``workflow/resources/reference/README.md``), for the captions.
G_TABLE_SOURCE = (r"G: Grazzi et al.'s values as committed in their release, in the results table from which their "
                  r"appendix table ``Complete results of the main experiment'' is built (two decimals; Pythia, "
                  r"GPT-J and LLaMA values copied there from Hendel et al.)")


def _published_mean(ref: pd.DataFrame, model: str, tasks: list[str]) -> float:
    """Mean of G's (two-decimal) per-task values over ``tasks``; NaN without a column for ``model``."""
    return float(ref.loc[tasks, model].astype(float).mean()) if model in ref.columns else float("nan")


def _mamba_note(ref: pd.DataFrame, results: dict[str, str]) -> str:
    """Caption sentence with G's Mamba 2.8B means, which the text quotes, when the run has no such column."""
    if "mamba_2.8b" in results or "mamba_2.8b" not in ref.columns:
        return ""
    return (rf" G's Mamba 2.8B (quoted in the text, not run here): "
            rf"{format_number(float(ref.at['mean_18_tasks', 'mamba_2.8b']), 3)} over all 18 tasks, "
            rf"{format_number(_published_mean(ref, 'mamba_2.8b', MATCHED_TASKS), 3)} over the matched tasks.")


def reference_table_tex(results: dict[str, str], reference_csv: str) -> str:
    """Our 18-task, matched-task and per-category means next to G's (release table), for every model (models
    G did not evaluate show --). When the run lacks G's Mamba 2.8B, the caption gives its two means, which the
    text quotes."""
    ref = pd.read_csv(reference_csv).set_index("task")
    icl = accuracy_wide(results, "icl")
    rows = [("mean of 18", "mean_18_tasks", TASK_NAMES),
            (f"mean of {len(MATCHED_TASKS)} matched", None, MATCHED_TASKS)] + [
        (f"mean {c}", f"mean_{c}", [t for t in TASK_NAMES if TASK_INFO[t].category == c]) for c in CATEGORIES]
    caption = (rf"Our 5-shot mean accuracies beside G's. {G_TABLE_SOURCE}. Matched: the tasks whose "
               r"relation is G's (substitutes excluded); G's value for it is the mean of their two-decimal "
               r"per-task values. --: G did not evaluate this model." + _mamba_note(ref, results))
    head = [" & ".join(["Mean"] + [rf"\multicolumn{{2}}{{c}}{{{latex_escape(model_spec(m).label)}}}"
                                   for m in results]),
            " & ".join([""] + ["ours", "G"] * len(results))]
    body = []
    for label, key, tasks in rows:
        cells = []
        for m in results:
            ours = icl.loc[tasks, m].mean()
            if key is None:
                pub = _published_mean(ref, m, tasks)
            else:
                pub = ref.at[key, m] if m in ref.columns else float("nan")
            cells += [format_number(ours, 3), "--" if pd.isna(pub) else format_number(float(pub), 3)]
        body.append(" & ".join([label] + cells) + r" \\")
    return table_tex(caption, "tab:nlp-reference", f"l{'rr' * len(results)}", head, body, r"\small", "t")


def reference_tasks_table_tex(results: dict[str, str], reference_csv: str) -> str:
    """Per matched task (G's definition, substitutes excluded): ours / G's 5-shot accuracy for each
    model of the run that G evaluated, then the matched-task and 18-task means. Without such a
    model the table says so (small configs run local models G did not evaluate)."""
    ref = pd.read_csv(reference_csv).set_index("task")
    models = [m for m in results if m in ref.columns]
    caption = (rf"Per task, ours\,/\,G's 5-shot accuracy for the {len(MATCHED_TASKS)} tasks whose relation is G's; "
               rf"substitutes are left out. {G_TABLE_SOURCE}. "
               r"Our data are rebuilt and the translation metric is changed (Section~\ref{sec:nlp}). Mean of 18: "
               r"all 18 tasks, substitutes included. --: no result.")

    def frame(content: list[str]) -> str:
        return float_tex(caption, "tab:nlp-reference-tasks", content, r"\scriptsize", "tp",
                         preamble=[r"\setlength{\tabcolsep}{3pt}"])

    if not models:
        return frame([r"G evaluated no model of this run; the per-task comparison needs the models of G."])
    icl = accuracy_wide(results, "icl")

    def cell(ours: float, pub: float) -> str:
        return ("--" if pd.isna(ours) else format_number(ours, 2)) + r"\,/\," + (
            "--" if pd.isna(pub) else format_number(pub, 2))

    content = []
    for start in range(0, len(models), TASK_TABLE_MODELS):  # a block of columns per group of models
        group = models[start:start + TASK_TABLE_MODELS]
        body = [" & ".join([TASK_INFO[t].category, latex_escape(TASK_INFO[t].label)]
                           + [cell(icl.at[t, m], float(ref.at[t, m])) for m in group]) + r" \\"
                for t in MATCHED_TASKS]
        body.append(r"\midrule")
        body.append(" & ".join(["", f"mean of {len(MATCHED_TASKS)} matched"] + [
            cell(icl.loc[MATCHED_TASKS, m].mean(), _published_mean(ref, m, MATCHED_TASKS)) for m in group]) + r" \\")
        body.append(" & ".join(["", "mean of 18"] + [
            cell(icl[m].mean(), float(ref.at["mean_18_tasks", m])) for m in group]) + r" \\")
        head = " & ".join(["Category", "Task"] + [latex_escape(model_spec(m).label) for m in group])
        content += ([r"\par\medskip"] if start else []) + tabular_lines(f"ll{'r' * len(group)}", head, body, fit=False)
    return frame(content)


def published_curves(reference_csv: str | None, models: list[str]) -> pd.DataFrame:
    """G's context-length means (model, n_shots, mean_accuracy, n_tasks) for the models of G's Figure 7
    that ``models`` also sweeps, in ``models`` order; empty when none (or no file) matches."""
    cols = ["model", "n_shots", "mean_accuracy", "n_tasks"]
    if reference_csv is None:
        return pd.DataFrame(columns=cols)
    ref = pd.read_csv(reference_csv)
    keep = [m for m in models if m in FIG7_MODELS]
    out = ref[ref.model.isin(keep)][cols]
    order = {m: i for i, m in enumerate(keep)}
    return out.sort_values(["model", "n_shots"], key=lambda c: c.map(order) if c.name == "model" else c
                           ).reset_index(drop=True)


def sweep_curves(sweep: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per k: mean over the evaluated tasks with a 5-95 % bootstrap CI over tasks, the task count, and the
    mean over the fixed subset of tasks evaluated at every k (comparable across k)."""
    ev = sweep[sweep.accuracy.notna()]
    ks = sorted(sweep.k.unique())
    fixed = [t for t in ev.task.unique() if set(ev[ev.task == t].k) >= set(ks)]
    rng = np.random.default_rng(seed)
    rows = []
    for k in ks:
        acc = ev[ev.k == k].accuracy.to_numpy()
        boots = rng.choice(acc, size=(n_resamples, len(acc))).mean(1) if len(acc) else np.array([np.nan])
        sub = ev[(ev.k == k) & ev.task.isin(fixed)].accuracy
        rows.append({"k": k, "mean": acc.mean() if len(acc) else np.nan, "ci_low": np.quantile(boots, 0.05),
                     "ci_high": np.quantile(boots, 0.95), "n_tasks": len(acc),
                     "fixed_mean": sub.mean() if len(sub) else np.nan, "n_fixed": len(fixed)})
    return pd.DataFrame(rows)


def plot_box(results: dict[str, str], out_pdf: str, zero_shot: bool = False) -> None:
    import matplotlib.pyplot as plt
    import seaborn as sns

    from ..report.plots import COLUMN_WIDTH_IN, set_style
    set_style()
    frames = []
    for setting in (["zero_shot", "icl"] if zero_shot else ["icl"]):
        wide = accuracy_wide(results, setting)
        long = wide.reset_index(names="task").melt(id_vars="task", var_name="model", value_name="accuracy")
        frames.append(long.assign(setting="zero-shot" if setting == "zero_shot" else "ICL"))
    data = pd.concat(frames).dropna()
    data["model"] = data.model.map(lambda m: model_spec(m).label)
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.6))
    hue = "setting" if zero_shot else None
    sns.boxplot(data=data, x="model", y="accuracy", hue=hue, ax=ax, fliersize=0, linewidth=0.8,
                color=None if zero_shot else "0.85")
    sns.stripplot(data=data, x="model", y="accuracy", hue=hue, dodge=zero_shot, ax=ax, size=2.5, color="0.2",
                  legend=False)
    ax.set_xlabel("")
    ax.set_ylim(-0.02, 1.02)
    ax.tick_params(axis="x", rotation=30)
    fig.savefig(out_pdf)
    plt.close(fig)


def plot_shots(sweeps: dict[str, str], out_pdf: str, reference_csv: str | None = None,
               order: list[str] | None = None) -> list[str]:
    """Our sweep curves; with ``reference_csv``, G's curves (``published_curves``) for the swept
    models of G's Figure 7, dotted with hollow squares in the model's colour. ``order``: the run's NLP models
    (``nlp.models``), which fix each model's colour (``report.style``). Returns the legend labels."""
    import matplotlib.pyplot as plt

    from ..report.plots import COLUMN_WIDTH_IN, figure_legend, set_style
    from ..report.style import styles_for
    set_style()
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 3.4), layout="constrained")
    styles = styles_for(list(sweeps), order)
    published = published_curves(reference_csv, list(sweeps))
    for i, (model, path) in enumerate(sweeps.items()):
        c = sweep_curves(pd.read_csv(path))
        color = styles[model]["color"]
        ax.plot(c.k, c["mean"], marker=styles[model]["marker"], ms=3, color=color,
                label=f"{model_spec(model).label}, available tasks")
        ax.fill_between(c.k, c.ci_low, c.ci_high, color=color, alpha=0.2, lw=0)
        ax.plot(c.k, c.fixed_mean, ls="--", color=color,
                label=f"{model_spec(model).label}, fixed {int(c.n_fixed.iloc[0])} tasks")  # one legend entry per model
        pub = published[published.model == model]
        if len(pub):
            ax.plot(pub.n_shots, pub.mean_accuracy, ls=":", marker="s", ms=3, mfc="none", color=color,
                    label=f"{model_spec(model).label}, {REFERENCE_CURVE_LABEL}")
        if i == 0:
            for k, n in zip(c.k, c.n_tasks):
                ax.annotate(str(n), (k, 0.02), ha="center", fontsize=6, color="0.4")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("shots $k$ (grey numbers: tasks evaluated)")
    ax.set_ylabel("mean accuracy")
    ax.set_ylim(0, 1)
    figure_legend(fig, [ax], ncol=2)  # below the axes: inside, it covered the curves
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    fig.savefig(out_pdf)
    plt.close(fig)
    return labels


def nlp_enabled(config: dict) -> bool:
    """Whether the config runs the NLP study (the condition of workflow/rules/nlp.smk)."""
    nlp = config.get("nlp") or {}
    return bool(nlp) and bool(nlp.get("enabled", True))


def _model_key(model: str) -> str:
    return model.replace(".", "p")


def macro_names(models: list[str], sweep_models: list[str]) -> list[str]:
    """Every macro ``macros`` writes for these evaluated and swept models (``report.macros.paper_macros``)."""
    names = {"NlpShots", "NlpNPrompts", "NlpNZeroShot", "NlpSeed", "NlpPubMambaTwoEightB", "NlpPoolPluralSingular",
             "NlpPoolEnEs", "NlpPoolModel", "NlpMatchedTasks", "NlpPubMatchedMambaTwoEightB", "NlpPrecision"}
    names |= {macro_name("Nlp", _model_key(m), end) for m in models
              for end in ("Mean", "MatchedMean", "ZeroShot", "Minutes", "Precision")}
    names |= {macro_name("Nlp", _model_key(m), end) for m in sweep_models
              for end in ("SweepMaxK", "SweepTasksAtMaxK")}
    return sorted(names)


def macros(results: dict[str, str], sweeps: dict[str, str], metas: dict[str, str], reference_csv: str,
           settings: dict) -> dict[str, str]:
    ref = pd.read_csv(reference_csv).set_index("task")
    vals = {"NlpShots": str(settings["shots"]), "NlpNPrompts": str(settings["n_prompts"]),
            "NlpNZeroShot": str(settings["n_zero_shot"]), "NlpSeed": str(settings["seed"]),
            "NlpPubMambaTwoEightB": format_number(float(ref.at["mean_18_tasks", "mamba_2.8b"]), 3),
            "NlpMatchedTasks": str(len(MATCHED_TASKS)),
            "NlpPubMatchedMambaTwoEightB": format_number(_published_mean(ref, "mamba_2.8b", MATCHED_TASKS), 3)}
    icl, zero = accuracy_wide(results, "icl"), accuracy_wide(results, "zero_shot")
    for m in results:
        vals[macro_name("Nlp", _model_key(m), "Mean")] = format_number(icl[m].mean(), 3)
        vals[macro_name("Nlp", _model_key(m), "MatchedMean")] = format_number(icl.loc[MATCHED_TASKS, m].mean(), 3)
        vals[macro_name("Nlp", _model_key(m), "ZeroShot")] = format_number(zero[m].mean(), 3)
        meta = json.loads(Path(metas[m]).read_text())
        vals[macro_name("Nlp", _model_key(m), "Minutes")] = f"{meta['seconds'] / 60:.1f}"
    prec = precisions({m: metas[m] for m in results})
    for m in results:
        vals[macro_name("Nlp", _model_key(m), "Precision")] = DTYPE_LABEL[prec[m]["dtype"]]
    vals["NlpPrecision"] = precision_sentence(prec)
    first = next(iter(results))
    pools = pd.read_csv(results[first]).drop_duplicates("task").set_index("task").n_pool
    vals["NlpPoolPluralSingular"] = str(int(pools["linguistic_plural_singular"]))
    vals["NlpPoolEnEs"] = str(int(pools["translation_en_es"]))
    vals["NlpPoolModel"] = model_spec(first).label
    for m, path in sweeps.items():
        c = sweep_curves(pd.read_csv(path))
        vals[macro_name("Nlp", _model_key(m), "SweepMaxK")] = str(int(c.k.max()))
        vals[macro_name("Nlp", _model_key(m), "SweepTasksAtMaxK")] = str(int(c.n_tasks.iloc[-1]))
    listed = macro_names(list(results), list(sweeps))
    if sorted(vals) != listed:
        raise AssertionError(f"macros_nlp.tex: the macros written differ from nlp.report.macro_names: "
                             f"missing {sorted(set(listed) - set(vals))}, unlisted {sorted(set(vals) - set(listed))}")
    return vals


# ---------------------------------------------------------------------------------------------
# Jobs (workflow/scripts/nlp_table_*.py, nlp_figure_*.py, nlp_macros.py)


def table_accuracy_job(results: dict, shots: int, out_tex: str, metas: dict | None = None) -> None:
    precision = {m: p["dtype"] for m, p in precisions(metas).items()} if metas else None
    Path(out_tex).write_text(accuracy_table_tex(results, shots, precision))


def table_reference_job(results: dict, reference_csv: str, out_tex: str) -> None:
    Path(out_tex).write_text(reference_table_tex(results, reference_csv))


def table_reference_tasks_job(results: dict, reference_csv: str, out_tex: str) -> None:
    Path(out_tex).write_text(reference_tasks_table_tex(results, reference_csv))


def figure_box_job(results: dict, zero_shot: bool, out_pdf: str) -> None:
    plot_box(results, out_pdf, zero_shot=zero_shot)


def figure_shots_job(sweeps: dict, out_pdf: str, out_csv: str, reference_csv: str | None = None,
                     order: list[str] | None = None) -> None:
    plot_shots(sweeps, out_pdf, reference_csv, order)
    pd.concat([sweep_curves(pd.read_csv(p)).assign(model=m) for m, p in sweeps.items()]).to_csv(out_csv, index=False)


def macros_job(results: dict, sweeps: dict, metas: dict, reference_csv: str, settings: dict, out_tex: str) -> None:
    Path(out_tex).write_text(macros_tex(macros(results, sweeps, metas, reference_csv, settings)))
