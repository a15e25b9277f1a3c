"""One colour and marker per model, fixed across every figure of a run.

Colours are assigned over *all* models of the config in config order (``model_styles(order)``), never over
the models one figure happens to draw: a model that appears in two figures with different subsets keeps its
colour. Baselines are drawn in grey shades with their own dash patterns, so a baseline can never be read as a
model. Backbones (the forward-cost figure) take the colour of the first config model built on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .latex import EXACT_FIT_FLOOR  # below: rounding noise of an exact fit, not a level to show

# Hand-picked, colour-blind-safe (Okabe-Ito and Paul Tol's muted set), no grey (greys are the baselines'),
# ordered so that the first models (the papers' Transformer and Mamba) get the two most distinct hues.
MODEL_COLOURS = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC3311",  # red
    "#AA4499",  # purple
    "#56B4E9",  # sky blue
    "#882255",  # wine
    "#999933",  # olive
    "#332288",  # indigo
    "#8C510A",  # brown
    "#F0A0C8",  # pink
    "#44AA99",  # teal
)
MODEL_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p")

# Baselines: grey shades x dash patterns, fixed by the baseline registry's order
# (``evaluation.baselines.BASELINES``, copied so that figure jobs need not import torch; a test keeps them equal).
BASELINE_ORDER = ("zero", "least_squares", "averaging", "nearest_neighbors", "lasso_1", "lasso_0.1", "lasso_0.01",
                  "lasso_0.001", "lasso_0.0001", "nn_gd", "greedy_tree_depth4", "greedy_tree", "xgboost",
                  "parity_gf2", "parity_support_vote", "mqar_nearest_key", "mqar_zero")
# Four greys and five dash patterns: coprime periods, so no two of the first 20 baselines share both.
BASELINE_GREYS = ("0.15", "0.45", "0.3", "0.6")
BASELINE_DASHES = ((5, 2), (1, 1.5), (6, 2, 1, 2), (3, 3), (8, 2, 1, 2, 1, 2))


def model_styles(order: Sequence[str]) -> dict[str, dict]:
    """Model name -> ``ax.plot`` keywords (color, marker), by position in ``order`` (the config's models).

    More models than colours would repeat a colour silently; that is an error instead."""
    order = list(dict.fromkeys(order))
    if len(order) > len(MODEL_COLOURS):
        raise ValueError(f"{len(order)} models but only {len(MODEL_COLOURS)} distinct colours in report.style")
    return {m: {"color": MODEL_COLOURS[i], "marker": MODEL_MARKERS[i]} for i, m in enumerate(order)}


def styles_for(names: Iterable[str], order: Sequence[str] | None) -> dict[str, dict]:
    """Styles of ``names`` by config ``order``; names missing from it (or every name, without an order) are
    appended after it in order of appearance, so a figure never fails over an unlisted model."""
    names = list(dict.fromkeys(names))
    full = list(order or []) + [n for n in names if n not in (order or [])]
    return model_styles(full)


def baseline_styles(names: Iterable[str]) -> dict[str, dict]:
    """Baseline name -> ``ax.plot`` keywords (grey color, dash pattern). Fixed by the baseline registry's
    order where the name is registered, so a baseline keeps its dashes across figures."""
    registry = list(BASELINE_ORDER)
    names = list(dict.fromkeys(names))
    order = [n for n in registry if n in names] + [n for n in names if n not in registry]
    out = {}
    for name in names:
        i = registry.index(name) if name in registry else len(registry) + order.index(name)
        out[name] = {"color": BASELINE_GREYS[i % len(BASELINE_GREYS)], "dashes": BASELINE_DASHES[i % len(BASELINE_DASHES)]}
    return out


def backbone_styles(backbones: Sequence[str], model_backbones: dict[str, str] | None) -> dict[str, dict]:
    """Backbone -> style: the colour of the first config model built on it (``model_backbones``: model ->
    backbone, config order), so Mamba is drawn in Mamba's colour; backbones no model uses take the colours
    no model took."""
    model_backbones = model_backbones or {}
    models = model_styles(list(model_backbones)) if model_backbones else {}
    out, used = {}, set()
    for model, backbone in model_backbones.items():
        if backbone in backbones and backbone not in out:
            out[backbone] = models[model]
            used.add(models[model]["color"])
    free = [(c, m) for c, m in zip(MODEL_COLOURS, MODEL_MARKERS) if c not in used]
    for backbone in backbones:
        if backbone not in out:
            c, m = free.pop(0)
            out[backbone] = {"color": c, "marker": m}
    return out


def spans_decades(values, decades: float = 2.0) -> bool:
    """True when the positive finite ``values`` span more than ``decades`` powers of ten: a linear axis would
    flatten all but the largest, so the figure uses a log axis (and says so in its label)."""
    v = drawn_range_values(values)
    return len(v) > 1 and np.log10(v.max() / v.min()) > decades


def drawn_range_values(values) -> np.ndarray:
    """The positive finite ``values`` at or above ``EXACT_FIT_FLOOR``: those that set a log axis's range."""
    v = np.asarray(values, dtype=float)
    return v[np.isfinite(v) & (v >= EXACT_FIT_FLOOR)]
