"""Caption text from the data a figure draws, so that a caption never claims seeds or bands it lacks.

The plotting functions (``plots``, ``plots_probing``) decide with the same helpers whether a band is drawn and
whether the y axis is logarithmic; the results section and the probing macros call ``*_caption`` on the same
CSVs, so figure and caption agree by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .style import spans_decades


def band_drawn(d: pd.DataFrame, low: str = "normalized_ci_low", high: str = "normalized_ci_high") -> bool:
    """Whether ``d`` has an interval of non-zero width anywhere (one prompt, or no CI columns: none)."""
    if low not in d or high not in d:
        return False
    width = (d[high] - d[low]).to_numpy(float)
    return bool(np.any(np.isfinite(width) & (width > 0)))


def single_point(curves: pd.DataFrame) -> bool:
    """One evaluated position (MQAR scores one query set): drawn as points with error bars, not lines."""
    return curves.k.nunique() == 1


def seeds_text(n_seeds) -> str:
    """"one seed", "mean over 3 seeds", or "mean over 1-3 seeds (per model)" from the seed counts drawn."""
    counts = sorted({int(n) for n in pd.Series(n_seeds).dropna()})
    if not counts:
        return "seed count not recorded"
    if counts == [1]:
        return "one seed"
    if len(counts) == 1:
        return f"mean over {counts[0]} seeds"
    return f"mean over {counts[0]}-{counts[-1]} seeds (per model)"


def _model_seeds(curves: pd.DataFrame) -> str:
    models = curves[curves.kind == "model"] if "kind" in curves else curves
    return seeds_text(models.n_seeds if "n_seeds" in models else [])


def curves_caption(curves: pd.DataFrame, ci: float) -> str:
    """What an error-curve figure of ``curves`` shows: seeds, the band or error bars and their meaning, the
    axis scale. ``ci``: the bootstrap level of ``evaluation.bootstrap.ci`` the CSV was made with."""
    models = curves[curves.kind == "model"]
    parts = [_model_seeds(curves)]
    what = "error bars" if single_point(curves) else "shaded"
    if band_drawn(models):
        parts.append(f"{what}: {round(100 * ci)}% bootstrap interval over prompts")
    else:
        parts.append("no interval drawn (it has zero width)")
    if spans_decades(curves.normalized_mean):
        parts.append("log scale")
    return "; ".join(parts)


def probe_caption(summary: pd.DataFrame, ci: float) -> str:
    """The probing figures' seeds and band, from the probe summary they draw."""
    parts = [seeds_text(summary.n_seeds if "n_seeds" in summary else [])]
    if band_drawn(summary, "probe_mse_ci_low", "probe_mse_ci_high"):
        parts.append(f"shaded: {round(100 * ci)}% bootstrap interval over prompts")
    else:
        parts.append("no interval drawn (it has zero width)")
    return "; ".join(parts)
