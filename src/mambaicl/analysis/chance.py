"""Each task's trivial level: the error of a predictor that learns nothing from its context. The verdicts
(``analysis.verdicts``) and the claims ledger (``analysis.claims``) judge "fails" and "learned" relative to
it, so that a model at chance always fails, whatever the task's chance level is.

- regression: the lower of the zero predictor (normalised error 1, by the choice of the normaliser; its
  measured curve where the task runs the ``zero`` baseline) and the averaging baseline, over the same
  window of positions as the model's score;
- accuracy (sparse parity): one minus chance accuracy, 1 - 1/2;
- retrieval (MQAR): one minus chance nearest-value accuracy, 1 - 1/n_pairs (the zero vector's score).

A model's relative error is its error divided by the trivial level: 1 at chance, 0 when perfect.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ZERO_PREDICTOR_ERROR = 1.0          # the normaliser makes the zero predictor score 1 (tasks.base.normalizer)
TRIVIAL_BASELINES = ("zero", "averaging")
PARITY_CHANCE = 0.5


def window_error(curves: pd.DataFrame, name: str, last_k: int | None, window: int) -> float:
    """Mean normalised metric of curve ``name`` over k = last_k - window + 1 .. last_k (None: its last k).
    NaN where the curve is absent or stops before ``last_k`` (a learned positional table)."""
    c = curves[curves.name == name].sort_values("k")
    if c.empty:
        return float("nan")
    if last_k is None:
        last_k = int(c.k.max())
    if last_k not in set(c.k):
        return float("nan")
    sel = c[(c.k <= last_k) & (c.k > last_k - window)]
    return float(sel.normalized_mean.mean())


def trivial_regression_error(curves: pd.DataFrame, last_k: int | None, window: int) -> float:
    """The lower of the zero predictor's and the averaging baseline's window error (``curves``: one task's
    curves with ``kind``/``name`` columns). The zero predictor's analytic level 1 stands in when the task
    does not run the ``zero`` baseline."""
    base = curves[curves.kind == "baseline"] if "kind" in curves else curves
    levels = {name: window_error(base, name, last_k, window) for name in TRIVIAL_BASELINES}
    if not np.isfinite(levels["zero"]):
        levels["zero"] = ZERO_PREDICTOR_ERROR
    return float(np.nanmin(list(levels.values())))


def chance_error(kind: str, n_pairs: int | None = None) -> float:
    """One minus chance accuracy: ``kind`` "accuracy" (parity) or "retrieval" (MQAR with ``n_pairs``)."""
    if kind == "accuracy":
        return 1.0 - PARITY_CHANCE
    if kind == "retrieval":
        if not n_pairs or n_pairs < 2:
            raise ValueError(f"MQAR chance needs the number of key-value pairs (>= 2), got {n_pairs}")
        return 1.0 - 1.0 / n_pairs
    raise ValueError(f"no chance level for a {kind!r} score")


def relative_error(error: float, trivial: float) -> float:
    """``error`` on the scale where the trivial predictor scores 1."""
    return float(error) / trivial if trivial > 0 else float("nan")
