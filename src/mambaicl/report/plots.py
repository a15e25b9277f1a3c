"""Paper figures: vector PDFs at column width, one consistent style."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

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


def plot_error_curves(
    curves: pd.DataFrame,
    out_path: str | Path,
    title: str,
    train_points: int,
    log_y: bool = False,
    ylabel: str = "normalized squared error",
    reference: float = 1.0,
    groups: dict[str, list[str]] | None = None,
) -> None:
    """Per-position metric vs in-context examples; models solid with CI bands, baselines dashed.

    ``groups``: panel key (grazzi, park, extension, models) -> the models it draws; one panel per group, each
    with every baseline, so that each paper's figure shows its own model set (None: one panel, every model).
    Park's panel stops at the training length (Park evaluate in distribution only, spec 11.8). A dotted
    vertical line marks the training length, a dashed horizontal line the zero predictor (``reference``: 1
    for normalised errors, 0.5 = chance for accuracies). Each model keeps one colour across the panels.
    """
    set_style()
    models_all = curves[curves.kind == "model"]["name"].unique().tolist()
    groups = {k: [m for m in v if m in models_all] for k, v in (groups or {"models": models_all}).items()}
    groups = {k: v for k, v in groups.items() if v} or {"models": models_all}
    n = len(groups)
    fig, axes = plt.subplots(1, n, figsize=(COLUMN_WIDTH_IN * (1 if n == 1 else 0.62 * n + 0.3), 2.4 if n == 1 else 2.8),
                             sharey=True, squeeze=False)
    palette = sns.color_palette("colorblind")
    colour = {m: palette[i % len(palette)] for i, m in enumerate(models_all)}
    marker = "o" if curves.k.nunique() == 1 else None  # single-position tasks (MQAR): points, not lines
    baselines = curves[curves.kind == "baseline"]["label"].unique().tolist()
    greys = ["0.35", "0.6", "0.15", "0.75"]
    for ax, (key, names) in zip(axes[0], groups.items()):
        shown = curves[curves.k < train_points] if key == "park" else curves
        for name in names:
            d = shown[(shown.kind == "model") & (shown.name == name)]
            ax.plot(d.k, d.normalized_mean, color=colour[name], lw=1.4, label=d.label.iloc[0], marker=marker)
            ax.fill_between(d.k, d.normalized_ci_low, d.normalized_ci_high, color=colour[name], alpha=0.25, lw=0)
        for j, label in enumerate(baselines):
            d = shown[(shown.kind == "baseline") & (shown.label == label)]
            ax.plot(d.k, d.normalized_mean, color=greys[j % len(greys)], lw=1.0, ls="--", label=label, marker=marker)
        ax.axvline(train_points - 1, color="0.3", ls=":", lw=1.0)
        ax.axhline(reference, color="0.5", ls="--", lw=0.8)
        ax.set_xlabel("in-context examples")
        ax.set_title(title if n == 1 else PANEL_TITLES.get(key, key), fontsize="small" if n > 1 else None)
        ax.set_xlim(-0.5 if marker else 0, max(shown.k.max(), 0.5))
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.legend(fontsize="xx-small" if n > 1 else "x-small", loc="best")
    axes[0][0].set_ylabel(ylabel)
    if n > 1:
        fig.suptitle(title, fontsize="medium", y=1.04)  # above the panel titles (savefig bbox is tight)
    if log_y:
        axes[0][0].set_yscale("log")
    else:
        top = max(1.25 * reference, min(float(curves.normalized_mean.max()) * 1.05, 2.0 * reference))
        axes[0][0].set_ylim(0, top)
    fig.savefig(out_path)
    plt.close(fig)


BACKBONE_LABELS = {
    "gpt2": "Transformer", "mamba": "Mamba", "s4": "S4", "s4_park": "S4 (Park)", "s4_mamba": "S4-Mamba",
    "standard_hybrid": "Standard Hybrid", "mambaformer": "MambaFormer", "rwkv": "RWKV-4",
}


def plot_forward_scaling(df: pd.DataFrame, out_path: str | Path) -> None:
    """Forward time and peak memory against sequence length, log-log, one line per backbone."""
    set_style()
    fig, axes = plt.subplots(1, 2, figsize=(2 * COLUMN_WIDTH_IN, 2.4))
    palette = sns.color_palette("colorblind")
    for i, (backbone, d) in enumerate(df.groupby("backbone", sort=False)):
        style = dict(color=palette[i % len(palette)], marker="o", ms=3, lw=1.2,
                     label=BACKBONE_LABELS.get(backbone, backbone))
        axes[0].plot(d.length, d.seconds, **style)
        axes[1].plot(d.length, d.peak_mib, **style)
    for ax, ylabel in zip(axes, ["forward time (s)", "peak extra memory (MiB)"]):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length (tokens)")
        ax.set_ylabel(ylabel)
    axes[1].legend(fontsize="x-small", loc="upper left")
    fig.suptitle(f"One forward pass, batch of {int(df.batch_size.iloc[0])}, on {df.device.iloc[0]}",
                 fontsize="small")
    fig.savefig(out_path)
    plt.close(fig)


def _draw_curves(ax, curves: pd.DataFrame, colors: dict[str, tuple], train_points: int | None,
                 reference: float) -> None:
    """One panel of ``plot_error_curves``'s style: models solid with bands, baselines dashed grey."""
    greys = ["0.35", "0.6", "0.15", "0.75"]
    for label, d in curves[curves.kind == "model"].groupby("label", sort=False):
        ax.plot(d.k, d.normalized_mean, color=colors[label], lw=1.2, label=label)
        ax.fill_between(d.k, d.normalized_ci_low, d.normalized_ci_high, color=colors[label], alpha=0.25, lw=0)
    for j, (label, d) in enumerate(curves[curves.kind == "baseline"].groupby("label", sort=False)):
        ax.plot(d.k, d.normalized_mean, color=greys[j % len(greys)], lw=0.9, ls="--", label=label)
    if train_points is not None:
        ax.axvline(train_points - 1, color="0.3", ls=":", lw=0.9)
    ax.axhline(reference, color="0.5", ls="--", lw=0.7)


def plot_setting_panels(panels: list[tuple[str, pd.DataFrame, float]], out_path: str | Path, train_points: int,
                        ylabel: str = "normalized squared error", ncols: int = 4, log_y: bool = False) -> None:
    """A grid of error-curve panels, one per evaluation setting: (title, curves, reference line)."""
    set_style()
    n = len(panels)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.75 * ncols, 1.55 * nrows + 0.5), squeeze=False,
                             sharex=True)
    palette = sns.color_palette("colorblind")
    labels = list(dict.fromkeys(l for _, c, _ in panels for l in c[c.kind == "model"].label))
    colors = {label: palette[i % len(palette)] for i, label in enumerate(labels)}
    for ax, (title, curves, reference) in zip(axes.flat, panels):
        _draw_curves(ax, curves, colors, train_points, reference)
        ax.set_title(title, fontsize="small")
        if log_y:
            ax.set_yscale("log")
        else:
            top = max(1.25 * reference, min(float(curves.normalized_mean.max()) * 1.05, 2.0 * reference))
            ax.set_ylim(0, top)
        ax.tick_params(labelsize="x-small")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("in-context examples", fontsize="small")
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel, fontsize="small")
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), 5), fontsize="x-small",
               bbox_to_anchor=(0.5, -0.02 - 0.02 * (len(names) > 5)))
    fig.tight_layout(rect=(0, 0.06 if len(names) <= 5 else 0.1, 1, 1))
    fig.savefig(out_path)
    plt.close(fig)
