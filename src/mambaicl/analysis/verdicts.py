"""Park et al.'s Table 1 verdicts (on par / gap / fails), derived from our measured curves (spec 5.8).

P states no numeric criteria, so the rule is the project's, with its thresholds in
``report.verdicts`` and stated in the paper text:

- "fails" is relative to the task's trivial level (``analysis.chance``): a model fails if its error is at
  least ``fails_at`` times the error of a predictor that learns nothing from the context (the better of the
  zero predictor and the averaging baseline for regression, chance for parity and MQAR), so a model at
  chance fails whatever the task's chance level;
- regression tasks: the mean normalised error over the last ``window`` positions, e. "on par" if e is
  within ``on_par_abs`` absolute or ``on_par_rel`` relative of the best reference (the best baseline or
  the best model on that task); "gap" otherwise;
- accuracy tasks (parity): the final-position accuracy a, as the error 1 - a against chance 1/2 for
  "fails"; "on par" if a >= ``parity_on_par_at``, "gap" between;
- retrieval (MQAR): the regression rule applied to 1 - nearest-value accuracy, against chance 1/n_pairs.

Park's protocol (spec 11.8, the default ``at: training_length``): every score is read at the training
length (the window ends at k = T - 1, T the curriculum's final number of points), and the best reference is
the best of the task's baselines and Park's models (``report.verdicts.models``), never Grazzi's models
trained on the same task instance. ``extension_rows`` are judged the same way and labelled as ours.
"""

from __future__ import annotations

import pandas as pd

from ..config import suggest
from ..errors import ConfigError
from .chance import chance_error, relative_error, trivial_regression_error, window_error

SYMBOLS = {"on_par": r"\checkmark", "gap": r"$\blacktriangle$", "fails": r"$\times$"}
DEFAULT_RULE = {"fails_at": 0.8, "on_par_abs": 0.05, "on_par_rel": 0.2, "parity_on_par_at": 0.95}


def regression_verdict(error: float, best: float, rule: dict, trivial: float = 1.0) -> str:
    """``trivial``: the task's trivial error level over the same window (``analysis.chance``)."""
    if relative_error(error, trivial) >= rule["fails_at"]:
        return "fails"
    if error - best <= rule["on_par_abs"] or error <= best * (1 + rule["on_par_rel"]):
        return "on_par"
    return "gap"


def accuracy_verdict(acc: float, rule: dict) -> str:
    if relative_error(1.0 - acc, chance_error("accuracy")) >= rule["fails_at"]:
        return "fails"
    return "on_par" if acc >= rule["parity_on_par_at"] else "gap"


def _window_errors(curves: pd.DataFrame, window: int) -> pd.Series:
    """(kind, name) -> each curve's ``chance.window_error`` over its own last ``window`` positions."""
    groups = curves.sort_values("k").groupby(["kind", "name"], sort=False)
    return pd.Series({key: window_error(g, key[1], None, window) for key, g in groups}, dtype=float)


def task_verdicts(kind: str, curves: pd.DataFrame, rule: dict, window: int,
                  retrieval: pd.DataFrame | None = None, train_points: int | None = None,
                  reference_models: set[str] | None = None, n_pairs: int | None = None) -> pd.DataFrame:
    """One row per model of the task: its score (error, or accuracy for parity), the task's trivial error
    level it is judged against, and its verdict.

    ``kind``: "regression", "accuracy" or "retrieval" (needs ``retrieval``: the retrieval.csv rows, and
    ``n_pairs``: the prompts' key-value pairs, for chance).
    ``train_points``: judge at the training length (the curves up to k = train_points - 1, Park's protocol);
    None: at the last evaluated positions. ``reference_models``: the models that may be the best reference
    beside the baselines (None: every model of the curves)."""
    rows = []
    if train_points is not None:
        curves = curves[curves.k < train_points]
    if reference_models is not None:
        curves_ref = curves[(curves.kind != "model") | curves.name.isin(reference_models)]
    else:
        curves_ref = curves
    if kind == "accuracy":
        last = curves.sort_values("k").groupby(["kind", "name"], sort=False)["normalized_mean"].last()
        for (k, name), acc in last.items():
            if k == "model":
                rows.append(dict(name=name, score=acc, best_reference=float("nan"),
                                 trivial=chance_error("accuracy"), verdict=accuracy_verdict(acc, rule)))
        return pd.DataFrame(rows)
    if kind == "retrieval":
        r = retrieval[(retrieval.setting == "standard") & (retrieval.metric == "nearest_value_accuracy")]
        err = pd.Series(1.0 - r["mean"].to_numpy(), index=pd.MultiIndex.from_frame(r[["kind", "name"]]))
        ref = err[[k != "model" or reference_models is None or n in reference_models for k, n in err.index]]
        trivial = chance_error("retrieval", n_pairs)
    else:
        err, ref = _window_errors(curves, window), _window_errors(curves_ref, window)
        trivial = trivial_regression_error(curves, train_points - 1 if train_points is not None else None, window)
    best = float(ref.min())
    for (k, name), e in err.items():
        if k == "model":
            rows.append(dict(name=name, score=e, best_reference=best, trivial=trivial,
                             verdict=regression_verdict(e, best, rule, trivial)))
    return pd.DataFrame(rows)


def verdict_kind(metric: str, registry: str) -> str:
    if registry == "mqar":
        return "retrieval"
    return "accuracy" if metric == "accuracy" else "regression"


def verdicts_job(tasks: dict[str, dict], models: dict[str, str], rule: dict, window: int, published_csv: str,
                 out_csv: str) -> None:
    """``tasks``: our task instance -> {"published": row name in P's table, "registry", "metric",
    "curves": csv, "retrieval": csv or None, "n_pairs": MQAR's pairs or None, "train_points", "extension": bool}; ``models``: our model ->
    P's column. ``rule``: the thresholds, ``at`` (training_length: Park's protocol, spec 11.8, or eval_end)
    and ``reference`` (protocol: baselines and Park's models only, or all)."""
    published = pd.read_csv(published_csv)
    pub = {(r.task, r.model): r.verdict for r in published.itertuples()}
    thresholds = {**DEFAULT_RULE, **{k: v for k, v in rule.items() if k in DEFAULT_RULE}}
    at_training_length = rule.get("at", "training_length") == "training_length"
    reference = set(models) if rule.get("reference", "protocol") == "protocol" else None
    rows = []
    for task, info in tasks.items():
        kind = verdict_kind(info["metric"], info["registry"])
        retrieval = pd.read_csv(info["retrieval"]) if info.get("retrieval") else None
        df = task_verdicts(kind, pd.read_csv(info["curves"]), thresholds, window, retrieval,
                           info["train_points"] if at_training_length else None, reference, info.get("n_pairs"))
        for r in df.itertuples():
            if r.name not in models:
                continue
            rows.append(dict(task=task, published_task=info["published"], model=r.name, column=models[r.name],
                             rule=kind, score=r.score, best_reference=r.best_reference, trivial=r.trivial,
                             verdict=r.verdict,
                             published=pub.get((info["published"], models[r.name]), ""),
                             extension=bool(info.get("extension", False))))
    cols = ["task", "published_task", "model", "column", "rule", "score", "best_reference", "trivial", "verdict",
            "published", "extension"]
    pd.DataFrame(rows, columns=cols).to_csv(out_csv, index=False)


def check_config(config: dict) -> None:
    """``report.verdicts`` names trained tasks and configured models."""
    verdicts = config["report"].get("verdicts")
    if not verdicts:
        return
    used_tasks = {exp["task"] for exp in config["experiments"]}
    for key in ("tasks", "extension_rows"):
        for t in verdicts.get(key, {}):
            if t not in used_tasks:
                raise ConfigError(f"config error: 'report.verdicts.{key}.{t}': no experiment trains on task '{t}'"
                                  f"{suggest(t, used_tasks)}")
    both = set(verdicts["tasks"]) & set(verdicts.get("extension_rows", {}))
    if both:
        raise ConfigError(f"config error: 'report.verdicts': task {sorted(both)[0]} is under both tasks and "
                          "extension_rows; keep it under one")
    for m in verdicts["models"]:
        if m not in config["models"]:
            raise ConfigError(f"config error: 'report.verdicts.models.{m}': no model '{m}' is configured"
                              f"{suggest(m, config['models'])}")
