"""Probing figures (spec 6.10, 11.2): probe MSE against relative depth with the GD / GD++ overlay (F4),
and the probe's scale and shift against relative depth (F5). Same style as ``plots``.

The main figures draw only the paper's reference Transformer and Mamba; every other probed model goes to
the appendix figure. ``models`` (task -> model names) selects the curves; each model keeps one colour in
every figure (the palette is assigned over all probed models of the summary, in its order)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .labels import plot_scale
from .plots import COLUMN_WIDTH_IN, plt, set_style, sns

GD_STYLES = {"gd": dict(color="0.15", ls="--", label="GD"), "gdpp": dict(color="0.5", ls=":", label="GD++")}


def _grid(n_panels: int, n_rows_per_panel: int = 1, height: float = 2.2):
    ncols = min(n_panels, 2)
    nrows = math.ceil(n_panels / ncols) * n_rows_per_panel
    width = COLUMN_WIDTH_IN * (2 if ncols > 1 else 1.2)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height * nrows), squeeze=False, sharex=True)
    return fig, axes


def _colors(summary: pd.DataFrame) -> dict[str, tuple]:
    palette = sns.color_palette("colorblind", max(10, summary.label.nunique()))
    return {label: palette[i] for i, label in enumerate(summary.label.unique())}


def select_models(summary: pd.DataFrame, models: dict[str, list[str]] | None) -> pd.DataFrame:
    """The rows of the models listed per task (all rows when ``models`` is None), tasks in summary order."""
    if models is None:
        return summary
    keep = [(t, m) for t, ms in models.items() for m in ms]
    return summary[[(t, m) in keep for t, m in zip(summary.task, summary.model)]]


def plot_probe_mse(summary: pd.DataFrame, gd: pd.DataFrame, titles: dict[str, str], gd_scale: str,
                   out_path: str | Path, models: dict[str, list[str]] | None = None) -> None:
    """One panel per probed task with a listed model: probe MSE (log y, per ``gd_scale``) vs relative depth
    per model, bootstrap band; GD and GD++ iterates on the tasks that have them."""
    set_style()
    colors = _colors(summary)
    summary = select_models(summary, models)
    tasks = list(summary.task.unique())
    fig, axes = _grid(max(1, len(tasks)))
    for ax, task in zip(axes.flat, tasks):
        d = summary[summary.task == task]
        for label, dm in d.groupby("label", sort=False):
            f = plot_scale(gd_scale, int(dm.n_dims.iloc[0]), "probe")
            ax.plot(dm.relative_depth, dm.probe_mse * f, color=colors[label], lw=1.3, marker="o", ms=2, label=label)
            ax.fill_between(dm.relative_depth, dm.probe_mse_ci_low * f, dm.probe_mse_ci_high * f,
                            color=colors[label], alpha=0.2, lw=0)
        for method, dg in gd[gd.task == task].groupby("method", sort=False):
            f = plot_scale(gd_scale, int(dg.n_dims.iloc[0]), "gd")
            ax.plot(dg.relative_depth, dg.mse * f, lw=1.1, **GD_STYLES[method])
        ax.set_yscale("log")
        ax.set_title(titles.get(task, task), fontsize="small")
        ax.set_ylabel("probe MSE / D" if gd_scale == "per_dim" else "probe MSE (GD: 0.5 MSE x 2/D)")
        ax.legend(fontsize="xx-small", loc="best")
    for ax in axes.flat[len(tasks):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("relative depth")
    fig.savefig(out_path)
    plt.close(fig)


def plot_probe_scale_shift(summary: pd.DataFrame, titles: dict[str, str], out_path: str | Path,
                           models: dict[str, list[str]] | None = None) -> None:
    """Per probed task with a listed model, two panels: probe scale a_l and shift b_l vs relative depth, mean
    over prompts and seeds with a bootstrap band. Reference lines at a = 1 and b = 0 (the read-out used as is)."""
    set_style()
    colors = _colors(summary)
    summary = select_models(summary, models)
    tasks = list(summary.task.unique())
    fig, axes = plt.subplots(2, max(1, len(tasks)), figsize=(COLUMN_WIDTH_IN * max(1.2, 0.9 * len(tasks)), 3.8),
                             squeeze=False, sharex=True)
    for j, task in enumerate(tasks):
        d = summary[summary.task == task]
        for i, (col, name, ref) in enumerate((("scale", "scale $a_l$", 1.0), ("shift", "shift $b_l$", 0.0))):
            ax = axes[i, j]
            for label, dm in d.groupby("label", sort=False):
                ax.plot(dm.relative_depth, dm[col], color=colors[label], lw=1.2, marker="o", ms=2, label=label)
                ax.fill_between(dm.relative_depth, dm[f"{col}_ci_low"], dm[f"{col}_ci_high"], color=colors[label],
                                alpha=0.2, lw=0)
            ax.axhline(ref, color="0.5", ls="--", lw=0.8)
            if j == 0:
                ax.set_ylabel(name)
            if i == 0:
                ax.set_title(titles.get(task, task), fontsize="small")
            else:
                ax.set_xlabel("relative depth")
    axes[0, 0].legend(fontsize="xx-small", loc="best")
    fig.savefig(out_path)
    plt.close(fig)
