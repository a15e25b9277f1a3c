"""Cross-field checks of the config's core sections (tasks, models, experiments) that the schema cannot
express: a model referenced by an experiment exists, the curriculum fits the task, a named size exists.

Each pipeline stage checks its own sections (``mambaicl.validation`` runs them all in order).
"""

from __future__ import annotations

from ..errors import ConfigError
from ..models import BACKBONE_OPTIONS, DEFAULT_N_HEAD, SIZE_PRESETS, max_tokens_of
from ..tasks import TASKS, make_task
from .runs import task_params
from .schema import suggest

_MODEL_COMMON_KEYS = {"backbone", "label", "d_model", "n_layer", "learning_rate"}


def fail(msg: str):
    raise ConfigError(f"config error: {msg}")


def check_core(config: dict) -> None:
    """Task instances (generator, options, curriculum), models (named sizes expanded in place, options per
    backbone) and experiments (names exist, each model trained once per task, prompts fit the model)."""

    used_tasks = {exp["task"] for exp in config["experiments"]}
    instances = {}  # built once here, reused by the experiment checks below
    for name, task in config["tasks"].items():
        registry = task.get("task", name)
        if registry not in TASKS:
            fail(f"unknown task 'tasks.{name}'{suggest(name, TASKS)}: name a generator with 'tasks.{name}.task' "
                 f"(implemented: {', '.join(sorted(TASKS))})")
        try:
            instance = make_task(registry, **task_params(task, registry))
        except ValueError as e:
            fail(f"'tasks.{name}.params': {e}")
        instances[name] = instance
        if instance.eval_only and name in used_tasks:
            fail(f"'tasks.{name}' ({registry}) is an evaluation-only generator and cannot be trained on")
        cur = task["curriculum"]
        for counter in ("dims", "points"):
            s = cur[counter]
            if s["start"] > s["end"]:
                fail(f"'tasks.{name}.curriculum.{counter}': start {s['start']} exceeds end {s['end']}")
        if cur["dims"]["end"] > instance.n_dims:
            fail(f"'tasks.{name}.curriculum.dims.end' = {cur['dims']['end']} exceeds n_dims = {instance.n_dims}")
        if task["eval_points"] < cur["points"]["end"]:
            fail(f"'tasks.{name}.eval_points' = {task['eval_points']} is below the training length "
                 f"{cur['points']['end']} (curriculum.points.end)")
    for name, model in config["models"].items():
        backbone = model["backbone"]
        if "size" in model:
            presets = SIZE_PRESETS.get(backbone)
            if presets is None:
                fail(f"'models.{name}.size': backbone {backbone} has no named sizes (those with presets: "
                     f"{', '.join(SIZE_PRESETS)}); give d_model and n_layer instead")
            for key, value in presets[model["size"]].items():
                model.setdefault(key, value)  # explicit keys win; the job spec then holds plain numbers
            del model["size"]
        for key in ("d_model", "n_layer"):
            if key not in model:
                fail(f"'models.{name}.{key}' is required (or name a preset with 'models.{name}.size')")
        accepted = BACKBONE_OPTIONS[backbone]
        for key in model:
            if key not in _MODEL_COMMON_KEYS and key not in accepted:
                fail(f"'models.{name}.{key}' does not apply to backbone {backbone} "
                     f"(its options: {', '.join(sorted(accepted))})")
        if backbone == "gpt2" and "n_head" not in model:
            fail(f"'models.{name}.n_head' is required for backbone gpt2")
        n_head = model.get("n_head", DEFAULT_N_HEAD.get(backbone))
        if n_head is not None and model["d_model"] % n_head:
            fail(f"'models.{name}': d_model {model['d_model']} is not divisible by n_head {n_head}")
        if model.get("positional_encoding") == "none" and "max_tokens" in model:
            fail(f"'models.{name}.max_tokens' sizes a learned positional table, but positional_encoding is none")
        if backbone in ("s4", "s4_park", "s4_mamba") and model.get("d_state", 2) % 2:
            fail(f"'models.{name}.d_state' = {model['d_state']} must be even for S4D (N/2 complex modes)")
    seen: dict[tuple[str, str], int] = {}
    for i, exp in enumerate(config["experiments"]):
        for m in exp["models"]:
            if (exp["task"], m) in seen:
                fail(f"'experiments[{i}]' trains model '{m}' on '{exp['task']}' again (already in "
                     f"experiments[{seen[exp['task'], m]}]); give the variant its own model name")
            seen[exp["task"], m] = i
        if exp["task"] not in config["tasks"]:
            fail(f"'experiments[{i}].task' = '{exp['task']}' is not configured under 'tasks'"
                 f"{suggest(exp['task'], config['tasks'])} (configured: {', '.join(config['tasks'])})")
        for j, m in enumerate(exp["models"]):
            if m not in config["models"]:
                fail(f"'experiments[{i}].models[{j}]' = '{m}' is not configured under 'models'"
                     f"{suggest(m, config['models'])} (configured: {', '.join(config['models'])})")
        task = config["tasks"][exp["task"]]
        instance = instances[exp["task"]]
        train_len = task["curriculum"]["points"]["end"]
        for m in exp["models"]:
            max_tok = max_tokens_of(config["models"][m])
            if max_tok is not None and instance.max_points(max_tok) < train_len:
                fail(f"'models.{m}.max_tokens' = {max_tok} is too short for a {train_len}-point "
                     f"{exp['task']} prompt")
