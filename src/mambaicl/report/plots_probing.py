"""Probing figures (spec 6.10, 11.2): probe MSE against relative depth with the GD / GD++ overlay (F4),
and the probe's scale and shift against relative depth (F5). Same style as ``plots``.

The main figures draw only the paper's reference Transformer and Mamba; every other probed model goes to
the appendix figure. ``models`` (task -> model names) selects the curves; each model keeps one colour in
every figure, the one ``style`` gives it from the config's model order (``order``; the rules pass it). Panels of
one quantity share their y range; one legend below the panels names every line once."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .labels import plot_scale
from .captions import band_drawn
from .plots import COLUMN_WIDTH_IN, figure_legend, plt, set_style
from .style import styles_for

GD_STYLES = {"gd": dict(color="0.15", ls="--", label="GD"), "gdpp": dict(color="0.5", ls=":", label="GD++")}


def _grid(n_panels: int, height: float = 2.2):
    ncols = min(n_panels, 2)
    nrows = math.ceil(n_panels / ncols)
    width = COLUMN_WIDTH_IN * (2 if ncols > 1 else 1.2)
    return plt.subplots(nrows, ncols, figsize=(width, height * nrows + 0.6), squeeze=False, sharex=True,
                        sharey=True, layout="constrained")


def _styles(summary: pd.DataFrame, order: list[str] | None) -> dict[str, dict]:
    """Model name -> style; every probed model of the summary, so that the main and appendix figures agree
    even without ``order``."""
    return styles_for(summary.model, order)


def select_models(summary: pd.DataFrame, models: dict[str, list[str]] | None) -> pd.DataFrame:
    """The rows of the models listed per task (all rows when ``models`` is None), tasks in summary order."""
    if models is None:
        return summary
    keep = [(t, m) for t, ms in models.items() for m in ms]
    return summary[[(t, m) in keep for t, m in zip(summary.task, summary.model)]]


def plot_probe_mse(summary: pd.DataFrame, gd: pd.DataFrame, titles: dict[str, str], gd_scale: str,
                   out_path: str | Path, models: dict[str, list[str]] | None = None,
                   order: list[str] | None = None) -> None:
    """One panel per probed task with a listed model: probe MSE (log y, per ``gd_scale``) vs relative depth
    per model, bootstrap band; GD and GD++ iterates on the tasks that have them."""
    set_style()
    styles = _styles(summary, order)
    summary = select_models(summary, models)
    tasks = list(summary.task.unique())
    fig, axes = _grid(max(1, len(tasks)))
    for ax, task in zip(axes.flat, tasks):
        d = summary[summary.task == task]
        for model, dm in d.groupby("model", sort=False):
            f = plot_scale(gd_scale, int(dm.n_dims.iloc[0]), "probe")
            ax.plot(dm.relative_depth, dm.probe_mse * f, lw=1.3, ms=3, label=dm.label.iloc[0], **styles[model])
            if band_drawn(dm, "probe_mse_ci_low", "probe_mse_ci_high"):
                ax.fill_between(dm.relative_depth, dm.probe_mse_ci_low * f, dm.probe_mse_ci_high * f,
                                color=styles[model]["color"], alpha=0.15, lw=0)
        for method, dg in gd[gd.task == task].groupby("method", sort=False):
            f = plot_scale(gd_scale, int(dg.n_dims.iloc[0]), "gd")
            ax.plot(dg.relative_depth, dg.mse * f, lw=1.1, **GD_STYLES[method])
        ax.set_yscale("log")
        ax.set_title(titles.get(task, task), fontsize="small")
    for ax in axes[:, 0]:
        ax.set_ylabel(("probe MSE / D" if gd_scale == "per_dim" else "probe MSE (GD: 0.5 MSE x 2/D)") + ", log scale")
    for ax in axes.flat[len(tasks):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("relative depth")
    figure_legend(fig, axes.flat[:len(tasks)])
    fig.savefig(out_path)
    plt.close(fig)


def plot_probe_scale_shift(summary: pd.DataFrame, titles: dict[str, str], out_path: str | Path,
                           models: dict[str, list[str]] | None = None, order: list[str] | None = None) -> None:
    """Per probed task with a listed model, two panels: probe scale a_l and shift b_l vs relative depth, mean
    over prompts and seeds with a bootstrap band. Reference lines at a = 1 and b = 0 (the read-out used as is)."""
    set_style()
    styles = _styles(summary, order)
    summary = select_models(summary, models)
    tasks = list(summary.task.unique())
    fig, axes = plt.subplots(2, max(1, len(tasks)), figsize=(COLUMN_WIDTH_IN * max(1.2, 0.95 * len(tasks)), 4.4),
                             squeeze=False, sharex=True, sharey="row", layout="constrained")
    for j, task in enumerate(tasks):
        d = summary[summary.task == task]
        for i, (col, name, ref) in enumerate((("scale", "scale $a_l$", 1.0), ("shift", "shift $b_l$", 0.0))):
            ax = axes[i, j]
            for model, dm in d.groupby("model", sort=False):
                ax.plot(dm.relative_depth, dm[col], lw=1.2, ms=3, label=dm.label.iloc[0], **styles[model])
                if band_drawn(dm, f"{col}_ci_low", f"{col}_ci_high"):
                    ax.fill_between(dm.relative_depth, dm[f"{col}_ci_low"], dm[f"{col}_ci_high"],
                                    color=styles[model]["color"], alpha=0.15, lw=0)
            ax.axhline(ref, color="0.5", ls="--", lw=0.8)
            if j == 0:
                ax.set_ylabel(name)
            if i == 0:
                ax.set_title(titles.get(task, task), fontsize="small")
            else:
                ax.set_xlabel("relative depth")
    figure_legend(fig, axes[0])
    fig.savefig(out_path)
    plt.close(fig)
