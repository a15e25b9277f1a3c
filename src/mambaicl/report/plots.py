"""Paper figures: vector PDFs at column width, one consistent style."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .captions import band_drawn, single_point  # noqa: E402
from .scaling_text import BACKBONE_LABELS  # noqa: E402
from .style import (backbone_styles, baseline_styles, drawn_range_values, spans_decades,  # noqa: E402
                    styles_for)

COLUMN_WIDTH_IN = 3.4  # a two-column paper's column; the one-column report scales it up


def set_style() -> None:
    sns.set_theme(context="paper", style="whitegrid", font_scale=0.9)
    plt.rcParams.update({
        "pdf.fonttype": 42,  # TrueType, not Type 3 bitmaps
        "ps.fonttype": 42,
        "figure.dpi": 150,
        "savefig.bbox": "tight",
        "legend.frameon": False,
    })


PANEL_TITLES = {"grazzi": "Grazzi et al.'s models", "park": "Park et al.'s (to training length)",
                "extension": "our extension", "models": "models"}


def figure_legend(fig, axes, ncol: int = 4) -> None:
    """One legend below the axes naming every drawn line once (panels draw overlapping subsets), outside the
    data; needs the figure's constrained layout, which makes room for it."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    # models first, then the baselines (their artists carry gid "baseline"): columns read as groups
    seen = dict(sorted(seen.items(), key=lambda kv: _gid(kv[1]) == "baseline"))
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncol=min(len(seen), ncol),
                   fontsize="x-small", handlelength=2.6)


def _gid(handle) -> str | None:
    return handle.get_gid() if hasattr(handle, "get_gid") else None


def y_axis(axes, values, reference: float, ylabel: str, highs=None, log: bool | None = None) -> None:
    """Shared y range: log where the drawn means span more than two decades (a linear axis would flatten
    all but the worst curve; the label says so), else linear from 0 to just above the zero predictor's line
    or the data (``highs``: the bands' tops, else the values), at most twice that line (a diverging curve must
    not squash the others)."""
    if spans_decades(values) if log is None else log:
        axes[0].set_yscale("log")
        axes[0].set_ylabel(f"{ylabel} (log scale)")
        # an exact fit's rounding noise (least squares at 1e-14 beyond k = d) leaves through the bottom
        # instead of stretching the axis over ten empty decades
        drawn = drawn_range_values(values)
        if len(drawn):
            axes[0].set_ylim(bottom=float(drawn.min()) / 2)
    else:
        high = pd.Series(values if highs is None else highs).max()
        top = max(1.25 * reference, min(float(high) * 1.05, 2.0 * reference))
        axes[0].set_ylim(0, top)
        axes[0].set_ylabel(ylabel)


def _draw_lines(ax, curves: pd.DataFrame, styles: dict, bstyles: dict) -> None:
    """Models solid with their colour and marker (markers thinned so that 200-point curves stay lines) and
    a light band where it has width; baselines in their grey dashes."""
    for name, d in curves[curves.kind == "model"].groupby("name", sort=False):
        every = max(1, len(d) // 8)
        ax.plot(d.k, d.normalized_mean, lw=1.3, ms=3.5, markevery=every, label=d.label.iloc[0], **styles[name])
        if band_drawn(d):
            ax.fill_between(d.k, d.normalized_ci_low, d.normalized_ci_high, color=styles[name]["color"],
                            alpha=0.15, lw=0)
    for name, d in curves[curves.kind == "baseline"].groupby("name", sort=False):
        ax.plot(d.k, d.normalized_mean, lw=1.0, label=d.label.iloc[0], gid="baseline", **bstyles[name])
    ax.set_xlim(0, max(curves.k.max(), 1))
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))


def _draw_points(ax, curves: pd.DataFrame, styles: dict, bstyles: dict) -> None:
    """A single evaluated position (MQAR): one dot per model with its bootstrap interval as error bars, at
    categorical positions; baselines as horizontal lines across the panel."""
    models = curves[curves.kind == "model"].drop_duplicates("name")
    for x, row in enumerate(models.itertuples()):
        err = [[max(row.normalized_mean - row.normalized_ci_low, 0)], [max(row.normalized_ci_high - row.normalized_mean, 0)]] \
            if band_drawn(models) else None
        ax.errorbar([x], [row.normalized_mean], yerr=err, ls="none", ms=5, capsize=2.5, label=row.label,
                    **styles[row.name])
    for name, d in curves[curves.kind == "baseline"].groupby("name", sort=False):
        ax.axhline(float(d.normalized_mean.iloc[0]), lw=1.0, label=d.label.iloc[0], gid="baseline", **bstyles[name])
    ax.set_xticks(range(len(models)), models.label, rotation=35, ha="right", fontsize="x-small")
    ax.set_xlim(-0.6, len(models) - 0.4)
    ax.grid(axis="x", visible=False)


def draw_panel(ax, curves: pd.DataFrame, styles: dict, bstyles: dict, train_points: int | None,
               reference: float) -> None:
    """One panel: lines over positions, or dots for a single position; the dotted vertical line marks the
    training length, the dashed horizontal one the zero predictor (``reference``)."""
    if single_point(curves):
        _draw_points(ax, curves, styles, bstyles)
    else:
        _draw_lines(ax, curves, styles, bstyles)
        ax.set_xlabel("in-context examples")
        if train_points is not None:
            ax.axvline(train_points - 1, color="0.3", ls=":", lw=1.0)
    ax.axhline(reference, color="0.5", ls="--", lw=0.8)


def _highs(curves: pd.DataFrame) -> pd.Series:
    return curves.normalized_ci_high if "normalized_ci_high" in curves else curves.normalized_mean


def _styles(curves: pd.DataFrame, order: list[str] | None) -> tuple[dict, dict]:
    return (styles_for(curves[curves.kind == "model"].name, order),
            baseline_styles(curves[curves.kind == "baseline"].name))


def plot_error_curves(
    curves: pd.DataFrame,
    out_path: str | Path,
    title: str,
    train_points: int,
    log_y: bool | None = None,
    ylabel: str = "normalized squared error",
    reference: float = 1.0,
    groups: dict[str, list[str]] | None = None,
    order: list[str] | None = None,
) -> None:
    """Per-position metric vs in-context examples; models solid with CI bands, baselines grey dashed.

    ``groups``: panel key (grazzi, park, extension, models) -> the models it draws; one panel per group, each
    with every baseline, so that each paper's figure shows its own model set (None: one panel, every model).
    Park's panel stops at the training length (Park evaluate in distribution only, spec 11.8). ``order``: the
    config's models, which fix each model's colour and marker (``style``). ``log_y`` None: log where the
    means span more than two decades. Panels share the y range; one legend below them.
    """
    set_style()
    models_all = curves[curves.kind == "model"]["name"].unique().tolist()
    groups = {k: [m for m in v if m in models_all] for k, v in (groups or {"models": models_all}).items()}
    groups = {k: v for k, v in groups.items() if v} or {"models": models_all}
    n = len(groups)
    fig, axes = plt.subplots(1, n, figsize=(COLUMN_WIDTH_IN * (1.1 if n == 1 else 0.62 * n + 0.3), 3.2),
                             sharey=True, squeeze=False, layout="constrained")
    styles, bstyles = _styles(curves, order)
    for ax, (key, names) in zip(axes[0], groups.items()):
        shown = curves[curves.k < train_points] if key == "park" and not single_point(curves) else curves
        shown = shown[(shown.kind == "baseline") | shown.name.isin(names)]
        draw_panel(ax, shown, styles, bstyles, train_points, reference)
        if n > 1:
            ax.set_title(PANEL_TITLES.get(key, key), fontsize="small")
    y_axis(axes[0], curves.normalized_mean, reference, ylabel, _highs(curves), log=log_y)
    fig.suptitle(title, fontsize="medium")
    figure_legend(fig, axes[0])
    fig.savefig(out_path)
    plt.close(fig)


def scaling_slopes(df: pd.DataFrame) -> dict[str, float]:
    """Backbone -> fitted growth exponent of the median forward time: the log-log slope over the longer half
    of the lengths (``analysis.claims.loglog_slope``, the one claim G7 is judged by)."""
    from ..analysis.claims import loglog_slope

    return {b: loglog_slope(d.length, d.seconds) for b, d in df.groupby("backbone", sort=False)}


def plot_forward_scaling(df: pd.DataFrame, out_path: str | Path, model_backbones: dict[str, str] | None = None) -> None:
    """Median forward time (error bars: fastest to slowest repeat, where recorded) and peak memory against
    sequence length, log-log, one line per backbone; the legend gives each backbone's fitted exponent.
    ``model_backbones`` (config model -> backbone) gives a backbone its model's colour."""
    set_style()
    fig, axes = plt.subplots(1, 2, figsize=(2 * COLUMN_WIDTH_IN, 2.9), layout="constrained")
    styles = backbone_styles(list(df.backbone.unique()), model_backbones)
    slopes = scaling_slopes(df)
    for backbone, d in df.groupby("backbone", sort=False):
        style = dict(ms=3.5, lw=1.2, label=f"{BACKBONE_LABELS.get(backbone, backbone)} "
                     f"(slope {slopes[backbone]:.2f})", **styles[backbone])
        err = None
        if {"seconds_min", "seconds_max"} <= set(d):
            err = [(d.seconds - d.seconds_min).clip(lower=0), (d.seconds_max - d.seconds).clip(lower=0)]
        axes[0].errorbar(d.length, d.seconds, yerr=err, capsize=2, **style)
        axes[1].plot(d.length, d.peak_mib, **style)
    for ax, ylabel in zip(axes, ["forward time (s, log)", "peak extra memory (MiB, log)"]):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length (tokens)")
        ax.set_ylabel(ylabel)
    repeats = f"median of {int(df.repeats.iloc[0])} timed repeats" if "repeats" in df else "median time"
    fig.suptitle(f"One forward pass, batch of {int(df.batch_size.iloc[0])}, on {df.device.iloc[0]} ({repeats}; "
                 "slope: log-log fit over the longer half of the lengths)", fontsize="small")
    figure_legend(fig, axes[:1])
    fig.savefig(out_path)
    plt.close(fig)


def plot_setting_panels(panels: list[tuple[str, pd.DataFrame, float]], out_path: str | Path, train_points: int,
                        ylabel: str = "normalized squared error", ncols: int = 4,
                        order: list[str] | None = None) -> None:
    """A grid of error-curve panels, one per evaluation setting: (title, curves, reference line). The panels
    show the same quantity, so they share the y range (log where the means span more than two decades)."""
    set_style()
    n = len(panels)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(1.9 * ncols, 3.6), 1.7 * nrows + 1.0), squeeze=False,
                             sharex=True, sharey=True, layout="constrained")
    everything = pd.concat([c for _, c, _ in panels])
    styles, bstyles = _styles(everything, order)
    for ax, (title, curves, reference) in zip(axes.flat, panels):
        draw_panel(ax, curves, styles, bstyles, train_points, reference)
        ax.set_title(textwrap.fill(title, 30), fontsize="small")  # long setting names must not overlap
        ax.tick_params(labelsize="x-small")
        ax.set_xlabel("")
    for i, ax in enumerate(axes.flat):
        ax.set_visible(i < n)
        if i < n and i + ncols >= n:  # the lowest panel of its column (a hidden one below it): label its x axis
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("in-context examples", fontsize="small")
    y_axis(axes[:, 0], everything.normalized_mean, max(r for _, _, r in panels), ylabel, _highs(everything))
    for ax in axes[1:, 0]:
        ax.set_ylabel("")
    axes[0, 0].yaxis.label.set_size("small")
    figure_legend(fig, axes.flat[:n])
    fig.savefig(out_path)
    plt.close(fig)
