"""One job per figure rule (``workflow/scripts/figure_*.py``): read the stage's CSVs, draw with ``plots``.

Only figure jobs import this module, so only they pay for matplotlib and seaborn. Every job takes ``order``,
the config's models in config order: it fixes each model's colour and marker (``style``) across all figures,
whichever subset a figure draws.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .labels import metric_info, metric_label, task_title
from .plots import plot_error_curves, plot_forward_scaling, plot_setting_panels
from .plots_probing import plot_probe_mse, plot_probe_scale_shift


def figure_forward_scaling_job(csv: str, out_pdf: str, model_backbones: dict[str, str] | None = None) -> None:
    """``model_backbones``: config model -> backbone, so that a backbone is drawn in its model's colour."""
    plot_forward_scaling(pd.read_csv(csv), out_pdf, model_backbones)


def figure_error_curves_job(task: str, curves_csv: str, data_meta: str, train_points: int, out_pdf: str,
                            groups: dict[str, list[str]] | None = None, order: list[str] | None = None) -> None:
    """``groups``: panel (grazzi, park, extension, models) -> the task's models it draws (``paper_groups``)."""
    spec, metric, higher = metric_info(data_meta)
    plot_error_curves(pd.read_csv(curves_csv), out_pdf, task_title(spec, task), train_points,
                      ylabel=metric_label(metric), reference=0.5 if higher else 1.0, groups=groups, order=order)


def _reference(meta: dict) -> float:
    """The zero predictor's level in a panel: the OOD setting's line, chance for accuracies, else 1."""
    if meta.get("reference_line") is not None:
        return float(meta["reference_line"])
    return 0.5 if meta.get("metric") == "accuracy" else 1.0


def figure_settings_job(panels: dict[str, tuple[str, str]], train_points: int, out_pdf: str,
                        order: list[str] | None = None) -> None:
    """One panel per evaluation setting (``standard`` first): setting -> (curves csv, prompt-set meta)."""
    rows = []
    for setting, (csv, meta_path) in panels.items():
        meta = json.loads(Path(meta_path).read_text())
        rows.append((setting.replace("_", " "), pd.read_csv(csv), _reference(meta)))
    metric = json.loads(Path(next(iter(panels.values()))[1]).read_text()).get("metric", "squared_error")
    plot_setting_panels(rows, out_pdf, train_points, ylabel=metric_label(metric), order=order)


def figure_probe_mse_job(summary_csv: str, gd_csv: str, titles: dict[str, str], gd_scale: str, out_pdf: str,
                         models: dict[str, list[str]] | None = None, order: list[str] | None = None) -> None:
    """``models``: task -> the models drawn (main figure: reference Transformer and Mamba; appendix: the rest)."""
    plot_probe_mse(pd.read_csv(summary_csv), pd.read_csv(gd_csv), titles, gd_scale, out_pdf, models, order)


def figure_probe_scale_shift_job(summary_csv: str, titles: dict[str, str], out_pdf: str,
                                 models: dict[str, list[str]] | None = None, order: list[str] | None = None) -> None:
    plot_probe_scale_shift(pd.read_csv(summary_csv), titles, out_pdf, models, order)
