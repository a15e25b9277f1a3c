"""Training-loss curves (``workflow/scripts/figure_training_loss.py``): one panel per trained task instance,
the training loss of every model trained on it against the step, mean over seeds (thin lines: the seeds).
Each model keeps the colour ``style`` gives it from the config's model order, as in every other figure."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .plots import COLUMN_WIDTH_IN, figure_legend, plt, set_style
from .style import styles_for


def read_metrics(files: dict[str, list[str]]) -> pd.DataFrame:
    """``files``: "task/model" -> the seeds' train_metrics.csv; one frame with task, model, seed columns."""
    frames = []
    for key, paths in files.items():
        task, model = key.split("/")
        for seed, path in enumerate(paths):
            df = pd.read_csv(path)
            frames.append(df.assign(task=task, model=model, seed=seed))
    cols = ["step", "loss", "task", "model", "seed"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def figure_training_loss_job(files: dict[str, list[str]], titles: dict[str, str], labels: dict[str, str],
                             out_pdf: str, order: list[str] | None = None) -> None:
    set_style()
    df = read_metrics(files)
    tasks = list(dict.fromkeys(k.split("/")[0] for k in files))
    ncols = min(len(tasks), 4)
    nrows = math.ceil(len(tasks) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(COLUMN_WIDTH_IN * 2, 1.45 * nrows + 0.6), squeeze=False,
                             layout="constrained")
    styles = styles_for(df.model, order)
    for ax, task in zip(axes.flat, tasks):
        d = df[df.task == task]
        for model, dm in d.groupby("model", sort=False):
            st = styles[model]
            for _, ds in dm.groupby("seed"):
                ax.plot(ds.step, ds.loss, color=st["color"], lw=0.5, alpha=0.35)
            mean = dm.groupby("step").loss.mean()
            ax.plot(mean.index, mean.values, color=st["color"], lw=1.2, label=labels.get(model, model))
        positive = (d.loss > 0).all() and len(d)
        if positive and d.loss.max() / d.loss.min() > 30:
            ax.set_yscale("log")
        ax.set_title(titles.get(task, task), fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_xlabel("step", fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("training loss", fontsize=7)
    for ax in list(axes.flat)[len(tasks):]:
        ax.set_visible(False)
    figure_legend(fig, list(axes.flat)[:len(tasks)], ncol=4)
    Path(out_pdf).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_pdf)
    plt.close(fig)
