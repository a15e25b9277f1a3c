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


def plot_error_curves(
    curves: pd.DataFrame,
    out_path: str | Path,
    title: str,
    train_points: int,
    log_y: bool = False,
) -> None:
    """Normalised squared error vs in-context examples; models solid with CI bands, baselines dashed.

    A dotted vertical line marks the training length, a dashed horizontal line the zero predictor.
    """
    set_style()
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.4))
    palette = sns.color_palette("colorblind")
    models = curves[curves.kind == "model"]["label"].unique().tolist()
    baselines = curves[curves.kind == "baseline"]["label"].unique().tolist()
    for i, label in enumerate(models):
        d = curves[(curves.kind == "model") & (curves.label == label)]
        ax.plot(d.k, d.normalized_mean, color=palette[i % len(palette)], lw=1.4, label=label)
        ax.fill_between(d.k, d.normalized_ci_low, d.normalized_ci_high, color=palette[i % len(palette)],
                        alpha=0.25, lw=0)
    greys = ["0.35", "0.6", "0.15", "0.75"]
    for j, label in enumerate(baselines):
        d = curves[(curves.kind == "baseline") & (curves.label == label)]
        ax.plot(d.k, d.normalized_mean, color=greys[j % len(greys)], lw=1.0, ls="--", label=label)
    ax.axvline(train_points - 1, color="0.3", ls=":", lw=1.0)
    ax.axhline(1.0, color="0.5", ls="--", lw=0.8)
    ax.set_xlabel("in-context examples")
    ax.set_ylabel("normalized squared error")
    ax.set_title(title)
    if log_y:
        ax.set_yscale("log")
    else:
        top = max(1.25, min(float(curves.normalized_mean.max()) * 1.05, 2.0))
        ax.set_ylim(0, top)
    ax.set_xlim(0, curves.k.max())
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.legend(fontsize="x-small", loc="best")
    fig.savefig(out_path)
    plt.close(fig)
