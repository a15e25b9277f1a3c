"""The ``probing`` config section (Grazzi et al.'s probing, spec section 6): defaults, the derived lists
of probed tasks, models and seeds, and its cross-field check.

``probing_settings`` fills the defaults; ``check_probing`` validates the section. A model with a learned
positional table shorter than the probed sequence is refused when listed explicitly, and left out (and
named in the report) when the task's model list is the default.
"""

from __future__ import annotations

import copy

from ..config import models_of, seeds_of, suggest, task_params, task_spec
from ..config.schema import number_fix
from ..errors import ConfigError
from ..models import max_tokens_of
from ..tasks import make_task, task_from_spec


# Generators whose prompts use the interleaved layout and a scalar read-out: the probe applies.
PROBE_GENERATORS = ("linear_regression", "skewed_linear_regression", "sparse_linear_regression", "relu_nn",
                    "decision_tree", "noisy_linear_regression", "quadratic_regression")


# Data generators for which the GD / GD++ reference curves are drawn by default (spec 6.7).
GD_REFERENCE_GENERATORS = ("linear_regression", "skewed_linear_regression")


# The GD++ gamma of Grazzi et al.'s released probing overlay (spec 11.1).
GDPP_GAMMA_RELEASED = 1.939212572065831e-4
GDPP_VARIANTS = ("static", "compounding")


DEFAULTS = {
    "n_prompts": 64,             # spec 6.2: one batch of 64 tasks
    "n_points": 70,              # 40 context examples + 30 queries
    "n_context": 40,
    "fit_positions": {"start": 30, "end": 39},   # spec 6.4: context positions 31-40 (1-based)
    "data_seed": 20240203,
    "batch_size": 256,           # probed sequences per forward pass
    "bootstrap": {"n_resamples": 10000, "ci": 0.95, "seed": 0},   # spec 11.2: seaborn's 95 % band
    "gd_scale": "per_dim",
    "gd_iterations": 24,
    # spec 11.1: static GD++ with the released gamma; `gamma: search` runs the release's grid search
    # (10^linspace(-6, -3, 300), lowest query MSE at iterate 22); `variant: compounding` is von Oswald's.
    "gdpp": {"variant": "static", "gamma": GDPP_GAMMA_RELEASED, "gamma_min": 1.0e-6, "gamma_max": 1.0e-3,
             "n_gammas": 300, "select_iteration": 22},
}


def _merge(defaults: dict, given: dict) -> dict:
    out = copy.deepcopy(defaults)
    for k, v in given.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def probing_settings(config: dict) -> dict:
    """The ``probing`` section with every default filled in; ``tasks`` is {} when the section is absent."""
    section = config.get("probing") or {}
    out = _merge(DEFAULTS, {k: v for k, v in section.items() if k != "tasks"})
    out["tasks"] = copy.deepcopy(section.get("tasks") or {})
    return out


def probe_tasks(config: dict) -> list[str]:
    return list(probing_settings(config)["tasks"])


def _generator(config: dict, task: str) -> str:
    return config["tasks"][task].get("task", task)


def data_task_of(config: dict, task: str) -> str:
    """The configured task instance whose generator draws the probe prompts (default the task itself)."""
    return (probing_settings(config)["tasks"][task] or {}).get("data_task", task)


def _model_fits(config: dict, task: str, model: str) -> bool:
    max_tok = max_tokens_of(config["models"][model])
    if max_tok is None:
        return True
    gen = _generator(config, task)
    instance = make_task(gen, **task_params(config["tasks"][task], gen))
    return instance.max_points(max_tok) >= probing_settings(config)["n_context"] + 1


def probe_models(config: dict, task: str) -> list[str]:
    """Models probed on ``task``: the listed ones, or every model trained on it whose positional table
    holds a probed sequence."""
    entry = probing_settings(config)["tasks"][task] or {}
    if "models" in entry:
        return list(entry["models"])
    return [m for m in models_of(config, task) if _model_fits(config, task, m)]


def skipped_models(config: dict, task: str) -> list[str]:
    """Trained models left out by default because their learned positional table is too short."""
    entry = probing_settings(config)["tasks"][task] or {}
    if "models" in entry:
        return []
    return [m for m in models_of(config, task) if not _model_fits(config, task, m)]


def reference_probe_models(config: dict) -> list[str]:
    """The models of the main probing figures (spec 11.2: Mamba vs Transformer only): ``report.reference_models``'
    ``transformer_no_pe`` (a config without one, such as cpu.yaml, falls back to ``transformer_learned_pe``)
    and ``mamba``."""
    ref = config.get("report", {}).get("reference_models", {})
    names = [ref.get("transformer_no_pe", ref.get("transformer_learned_pe")), ref.get("mamba")]
    return [m for m in names if m]


def main_probe_models(config: dict, task: str) -> list[str]:
    """Probed models of ``task`` drawn in the main probing figures."""
    ref = reference_probe_models(config)
    return [m for m in probe_models(config, task) if m in ref and probe_seeds(config, task, m)]


def other_probe_models(config: dict, task: str) -> list[str]:
    """Probed models of ``task`` drawn in the appendix figure (every one not in the main figures)."""
    ref = reference_probe_models(config)
    return [m for m in probe_models(config, task) if m not in ref and probe_seeds(config, task, m)]


def probe_seeds(config: dict, task: str, model: str) -> list[int]:
    entry = probing_settings(config)["tasks"][task] or {}
    trained = seeds_of(config, task, model)
    return [s for s in entry["seeds"] if s in trained] if "seeds" in entry else trained


def probe_runs(config: dict) -> list[tuple[str, str, int]]:
    """Every (task, model, seed) to probe."""
    return [(t, m, s) for t in probe_tasks(config) for m in probe_models(config, t) for s in probe_seeds(config, t, m)]


def gd_reference_tasks(config: dict) -> list[str]:
    out = []
    for task, entry in probing_settings(config)["tasks"].items():
        default = _generator(config, data_task_of(config, task)) in GD_REFERENCE_GENERATORS
        if (entry or {}).get("gd_reference", default):
            out.append(task)
    return out


def probe_data_spec(config: dict, task: str) -> dict:
    """Spec of the probe prompt set (``mambaicl.evaluation.prompt_sets.generate_prompt_set``): the data task's generator
    with its evaluation overrides (one fixed rotation for skewed LR)."""
    s = probing_settings(config)
    spec = task_spec(config, data_task_of(config, task))
    return {"task": {**spec, **task_from_spec(spec).eval_overrides()}, "n_prompts": s["n_prompts"],
            "n_points": s["n_points"], "seed": s["data_seed"]}


def check_gdpp(g: dict, gd_iterations: int, fail) -> None:
    """``probing.gdpp``: gamma is a positive number or 'search'; the grid and its iterate fit."""
    gamma = g["gamma"]
    if isinstance(gamma, str) and gamma != "search":
        fix = number_fix(gamma, integer=False)
        fail(f"'probing.gdpp.gamma' = '{gamma}' is text, not a number: write {fix} (YAML reads a number with an "
             "exponent as text unless it has a dot and a sign)" if fix is not None else
             f"'probing.gdpp.gamma' = '{gamma}' is neither a number nor 'search'{suggest(gamma, ['search'])}")
    if not isinstance(gamma, str) and not (isinstance(gamma, (int, float)) and not isinstance(gamma, bool)
                                           and gamma > 0):
        fail(f"'probing.gdpp.gamma' = {gamma!r} must be a positive number or 'search' (default "
             f"{GDPP_GAMMA_RELEASED}, the release's)")
    if g["variant"] not in GDPP_VARIANTS:
        fail(f"'probing.gdpp.variant' = {g['variant']!r}{suggest(str(g['variant']), GDPP_VARIANTS)}: choose "
             f"from {', '.join(GDPP_VARIANTS)}")
    if gamma == "search":
        if not g["gamma_min"] < g["gamma_max"]:
            fail(f"'probing.gdpp': gamma_min {g['gamma_min']} must be below gamma_max {g['gamma_max']}")
        if g["select_iteration"] >= gd_iterations:
            fail(f"'probing.gdpp.select_iteration' = {g['select_iteration']} must be below probing.gd_iterations "
                 f"= {gd_iterations} (iterates are counted from 0)")


def check_probing(config: dict) -> None:
    """Cross-field checks of the ``probing`` section; raises ConfigError naming the key and the fix."""
    def fail(msg: str):
        raise ConfigError(f"config error: {msg}")

    s = probing_settings(config)
    if s["n_context"] >= s["n_points"]:
        fail(f"'probing.n_context' = {s['n_context']} leaves no query: it must be below probing.n_points = "
             f"{s['n_points']}")
    fp = s["fit_positions"]
    if not 0 <= fp["start"] < fp["end"] <= s["n_context"] - 1:
        fail(f"'probing.fit_positions' = {fp['start']}..{fp['end']} must be at least two context positions "
             f"within 0..{s['n_context'] - 1} (0-based, inclusive; probing.n_context = {s['n_context']})")
    check_gdpp(s["gdpp"], s["gd_iterations"], fail)
    trained = {exp["task"] for exp in config["experiments"]}
    for task, entry in s["tasks"].items():
        entry = entry or {}
        key = f"probing.tasks.{task}"
        if task not in trained:
            fail(f"'{key}': no experiment trains a model on '{task}' (trained: {', '.join(sorted(trained))}); "
                 "name a trained task instance")
        data = entry.get("data_task", task)
        if data not in config["tasks"]:
            fail(f"'{key}.data_task' = '{data}' is not configured under 'tasks' "
                 f"(configured: {', '.join(config['tasks'])})")
        for name in dict.fromkeys([task, data]):
            if _generator(config, name) not in PROBE_GENERATORS:
                fail(f"'{key}': generator {_generator(config, name)} of '{name}' cannot be probed (scalar "
                     f"interleaved tasks only: {', '.join(PROBE_GENERATORS)})")
        d_model_task = task_from_spec(task_spec(config, task)).n_dims
        d_data = task_from_spec(task_spec(config, data)).n_dims
        if d_model_task != d_data:
            fail(f"'{key}.data_task' = '{data}' has n_dims {d_data}, but the models were trained on "
                 f"{d_model_task}-dimensional '{task}' inputs; pick a data task with the same n_dims")
        models = models_of(config, task)
        for i, m in enumerate(entry.get("models", [])):
            if m not in models:
                fail(f"'{key}.models[{i}]' = '{m}' is not trained on '{task}' (trained: {', '.join(models)})")
            if not _model_fits(config, task, m):
                fail(f"'{key}.models[{i}]' = '{m}' has a learned positional table too short for a probed "
                     f"sequence of {s['n_context'] + 1} points; lower probing.n_context or drop the model "
                     "(left out by default when models is not given)")
        for i, seed in enumerate(entry.get("seeds", [])):
            for m in probe_models(config, task):
                if seed not in seeds_of(config, task, m):
                    fail(f"'{key}.seeds[{i}]' = {seed} is not a trained seed of model '{m}' on '{task}' "
                         f"(trained seeds: {seeds_of(config, task, m)})")
        if not probe_models(config, task):
            fail(f"'{key}': no trained model can be probed (every one has a positional table shorter than "
                 f"{s['n_context'] + 1} points); lower probing.n_context")
