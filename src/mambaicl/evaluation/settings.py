"""Evaluation settings: further prompt sets on which a task's trained models are scored.

A task's standard evaluation set is its own generator (``config.eval_data_spec``). A setting changes
that set in one of three ways, declared under ``tasks.<name>.eval_settings.<setting>``:

- ``ood: <name>``: one of Garg's out-of-distribution settings (``mambaicl.evaluation.ood``; spec 5.5). The
  shorthand ``tasks.<name>.ood_suite: all`` (or a list) declares one setting per OOD name.
- ``params: {...}``: the task's generator with some options changed, e.g. the outlier tasks'
  ``setting: fixed_dummy`` / ``wo_dummy`` or MQAR's ``query_noise`` (spec 2.7, 2.10).
- ``task: <generator>`` (with optional ``params``): another generator with the same token layout,
  e.g. ReLU-trained models on linear-regression prompts (spec 5.5, "other tasks").

Each set is scored with the task's own read-out and metric, and with the baselines the setting
lists (default: the task's baselines that are quick to fit, ``FAST_BASELINES``). A task's standard set
is scored with ``tasks.<name>.baselines`` (default: its generator's, ``task_baselines``).
"""

from __future__ import annotations

from ..config import task_params
from ..errors import ConfigError
from ..tasks import TASKS, make_task
from .baselines import BASELINES, BASELINES_FOR_TASK, FAST_BASELINES
from .ood import OOD_SETTINGS, PROMPT_STRATEGIES, make_ood_prompts, reference_line
from .prompt_sets import PromptSet, generate_prompt_set

# Generators whose prompts are isotropic-Gaussian regression prompts with a scalar label, the family the
# OOD suite's prompts belong to: a model trained on one of them reads OOD prompts in its own format.
OOD_FAMILY = ("linear_regression", "skewed_linear_regression", "sparse_linear_regression", "relu_nn",
              "decision_tree", "noisy_linear_regression", "quadratic_regression")


def _fail(msg: str):
    raise ConfigError(f"config error: {msg}")


def task_baselines(config: dict, task: str) -> list[str]:
    entry = config["tasks"][task]
    return list(entry.get("baselines", BASELINES_FOR_TASK[entry.get("task", task)]))


def check_task_baselines(config: dict) -> None:
    for name, entry in config["tasks"].items():
        for b in entry.get("baselines", []):
            if b not in BASELINES:
                _fail(f"'tasks.{name}.baselines': unknown baseline '{b}'")


def expand_and_check(config: dict) -> None:
    """Expand ``ood_suite`` into ``eval_settings`` entries (in place) and check every setting:
    generator and options valid, token layout equal to the trained task's, baselines known."""
    for name, entry in config["tasks"].items():
        registry = entry.get("task", name)
        suite = entry.pop("ood_suite", None)
        settings = entry.setdefault("eval_settings", {})
        if suite is not None:
            if registry not in OOD_FAMILY:
                _fail(f"'tasks.{name}.ood_suite': the OOD suite is made of regression prompts with scalar labels; "
                      f"{registry} prompts differ (it applies to: {', '.join(OOD_FAMILY)})")
            for s in OOD_SETTINGS if suite == "all" else suite:
                if s in settings and settings[s] != {"ood": s}:
                    _fail(f"'tasks.{name}.eval_settings.{s}' is also an OOD setting named by 'ood_suite'; "
                          "rename one of them")
                settings.setdefault(s, {"ood": s})
        own = make_task(registry, **task_params(entry, registry))
        for s, spec in settings.items():
            where = f"tasks.{name}.eval_settings.{s}"
            if "ood" in spec:
                if "task" in spec or "params" in spec:
                    _fail(f"'{where}': an 'ood' setting takes no 'task' or 'params' (its generator is Garg's)")
                if registry not in OOD_FAMILY:
                    _fail(f"'{where}': OOD settings apply to regression tasks ({', '.join(OOD_FAMILY)}), not {registry}")
            else:
                gen = spec.get("task", registry)
                if gen not in TASKS:
                    _fail(f"'{where}.task': unknown generator '{gen}' (implemented: {', '.join(sorted(TASKS))})")
                if "task" not in spec and "params" not in spec:
                    _fail(f"'{where}': say how the set differs from the standard one ('ood', 'task' or 'params')")
                try:
                    other = make_task(gen, **_setting_params(entry, registry, spec))
                except ValueError as e:
                    _fail(f"'{where}.params': {e}")
                if other.token_dim != own.token_dim or type(other).tokens is not type(own).tokens:
                    _fail(f"'{where}': {gen} prompts (token width {other.token_dim}) do not have the layout of "
                          f"{registry} prompts (token width {own.token_dim}); the trained models cannot read them")
            if spec.get("n_points", entry["eval_points"]) < 1:
                _fail(f"'{where}.n_points' must be at least 1")
            for b in spec.get("baselines", []):
                if b not in BASELINES:
                    _fail(f"'{where}.baselines': unknown baseline '{b}'")


def _setting_params(entry: dict, registry: str, spec: dict) -> dict:
    """Constructor parameters of a non-OOD setting's generator: the task's own (same generator) or
    just n_dims (another generator), then the setting's ``params``."""
    gen = spec.get("task", registry)
    base = {"n_dims": entry.get("n_dims", TASKS[registry].DEFAULT_N_DIMS)}
    if gen == registry:
        base.update(entry.get("params", {}))
    return {**base, **spec.get("params", {})}


def settings_of(config: dict, task: str) -> list[str]:
    return list(config["tasks"][task].get("eval_settings", {}))


def setting_baselines(config: dict, task: str, setting: str, task_baselines: list[str]) -> list[str]:
    spec = config["tasks"][task]["eval_settings"][setting]
    if "baselines" in spec:
        return list(spec["baselines"])
    return [b for b in task_baselines if b in FAST_BASELINES]


def setting_data_spec(config: dict, task: str, setting: str) -> dict:
    """Everything that determines the setting's prompt set (a rule's params: a change reruns it)."""
    entry = config["tasks"][task]
    registry = entry.get("task", task)
    spec = entry["eval_settings"][setting]
    ev = config["evaluation"]
    out = {
        "setting": setting,
        "n_prompts": spec.get("n_prompts", ev["n_prompts"]),
        "n_points": spec.get("n_points", entry["eval_points"]),
        "seed": ev["data_seed"],
    }
    if "ood" in spec:
        out["ood"] = spec["ood"]
        out["n_dims"] = entry.get("n_dims", TASKS[registry].DEFAULT_N_DIMS)
    else:
        gen = spec.get("task", registry)
        task_obj = make_task(gen, **_setting_params(entry, registry, spec))
        out["task"] = {"name": gen, **_setting_params(entry, registry, spec), **task_obj.eval_overrides()}
    return out


def generate_setting_prompts(spec: dict):
    """The setting's ``PromptSet``; its meta records the normaliser, the metric and the reference line."""
    if "ood" in spec:
        d = spec["n_dims"]
        prompts = make_ood_prompts(spec["ood"], spec["n_prompts"], spec["n_points"], spec["seed"], n_dims=d)
        meta = {"spec": spec, "normalizer": float(d), "metric": "squared_error",
                "reference_line": reference_line(spec["ood"], d),
                "query_strategy": spec["ood"] in PROMPT_STRATEGIES}
        return PromptSet(prompts, meta)
    ps = generate_prompt_set({k: spec[k] for k in ("task", "n_prompts", "n_points", "seed")})
    ps.meta.update(spec=spec, query_strategy=False)
    return ps
