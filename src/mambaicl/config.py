"""Load and validate the workflow config; derive the per-job specs the rules pass to scripts.

Validation has two layers. The JSON schema (workflow/schemas/config.schema.yaml) checks keys, types,
names and ranges; ``check_semantics`` checks what a schema cannot (a model referenced by an
experiment exists, the curriculum fits the task, ...). Both raise ``ConfigError`` with a one-line
message naming the offending key.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import yaml

from .errors import ConfigError
from .containers import check_container_config
from .baselines import BASELINES, BASELINES_FOR_TASK
from .models import BACKBONE_OPTIONS, DEFAULT_N_HEAD, SIZE_PRESETS, max_tokens_of
from .tasks import TASKS, make_task, task_from_spec
from .settings import expand_and_check as expand_eval_settings
from .probing import check_probing
from .nlp.report import check_nlp_config

_MODEL_COMMON_KEYS = {"backbone", "label", "d_model", "n_layer", "learning_rate"}

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMA = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"


def load_yaml(path: str | Path) -> dict:
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _key_path(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _resolve(schema: dict, root: dict) -> dict:
    ref = schema.get("$ref")
    if ref and ref.startswith("#/"):
        node = root
        for part in ref[2:].split("/"):
            node = node[part]
        return node
    return schema


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _format_error(err: jsonschema.ValidationError, root_schema: dict) -> str:
    where = _key_path(err.absolute_path)
    schema = _resolve(err.schema, root_schema)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = sorted(schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        key = extra[0] if extra else "?"
        full = f"{where}.{key}" if err.absolute_path else key
        return (f"unknown key '{full}'{_suggest(key, allowed)} "
                f"(allowed under {where}: {', '.join(allowed)})")
    if err.validator == "required":
        return f"missing key under {where}: {err.message}"
    if err.validator == "enum" and list(err.schema_path)[-2:-1] == ["propertyNames"]:
        # a bad mapping key (task name): the error sits on the parent mapping, the name is the instance
        return (f"unknown name '{where}.{err.instance}'{_suggest(err.instance, err.validator_value)} "
                f"(implemented: {', '.join(map(str, err.validator_value))})")
    if err.validator == "enum":
        return (f"'{where}': {err.instance!r} is not a known name{_suggest(err.instance, err.validator_value)} "
                f"(choose from: {', '.join(map(str, err.validator_value))})")
    if err.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"'{where}' = {err.instance!r} is out of range ({err.validator} {err.validator_value})"
    return f"'{where}': {err.message}"


def validate_schema(config: dict, schema_path: str | Path = DEFAULT_SCHEMA) -> None:
    schema = load_yaml(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        err = jsonschema.exceptions.best_match(errors) if len(errors) > 1 else errors[0]
        raise ConfigError(f"config error: {_format_error(err, schema)}")


def check_semantics(config: dict) -> None:
    """Cross-field checks the schema cannot express."""
    def fail(msg: str):
        raise ConfigError(f"config error: {msg}")

    used_tasks = {exp["task"] for exp in config["experiments"]}
    instances = {}  # built once here, reused by the experiment checks below
    for name, task in config["tasks"].items():
        registry = task.get("task", name)
        if registry not in TASKS:
            fail(f"unknown task 'tasks.{name}'{_suggest(name, TASKS)}: name a generator with 'tasks.{name}.task' "
                 f"(implemented: {', '.join(sorted(TASKS))})")
        try:
            instance = make_task(registry, **task_params(task, registry))
        except ValueError as e:
            fail(f"'tasks.{name}.params': {e}")
        instances[name] = instance
        if instance.eval_only and name in used_tasks:
            fail(f"'tasks.{name}' ({registry}) is an evaluation-only generator and cannot be trained on")
        for b in task.get("baselines", []):
            if b not in BASELINES:
                fail(f"'tasks.{name}.baselines': unknown baseline '{b}'")
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
    expand_eval_settings(config, task_params)
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
                 f"{_suggest(exp['task'], config['tasks'])} (configured: {', '.join(config['tasks'])})")
        for j, m in enumerate(exp["models"]):
            if m not in config["models"]:
                fail(f"'experiments[{i}].models[{j}]' = '{m}' is not configured under 'models'"
                     f"{_suggest(m, config['models'])} (configured: {', '.join(config['models'])})")
        task = config["tasks"][exp["task"]]
        instance = instances[exp["task"]]
        train_len = task["curriculum"]["points"]["end"]
        for m in exp["models"]:
            max_tok = max_tokens_of(config["models"][m])
            if max_tok is not None and instance.max_points(max_tok) < train_len:
                fail(f"'models.{m}.max_tokens' = {max_tok} is too short for a {train_len}-point "
                     f"{exp['task']} prompt")
    sc = config["scaling"]
    if sc["d_model"] % sc["n_head"]:
        fail(f"'scaling': d_model {sc['d_model']} is not divisible by n_head {sc['n_head']}")
    check_container_config(config)
    check_probing(config)
    check_nlp_config(config)
    if config["device"] == "cpu" and config["train"].get("precision") == "bf16":
        fail("'train.precision' = bf16 needs a CUDA GPU, but 'device' is cpu; use fp32")
    for pub, m in config["report"].get("reference_models", {}).items():
        if m not in config["models"]:
            fail(f"'report.reference_models.{pub}': no model '{m}' is configured{_suggest(m, config['models'])}")
    verdicts = config["report"].get("verdicts")
    if verdicts:
        for t in verdicts["tasks"]:
            if t not in used_tasks:
                fail(f"'report.verdicts.tasks.{t}': no experiment trains on task '{t}'{_suggest(t, used_tasks)}")
        for m in verdicts["models"]:
            if m not in config["models"]:
                fail(f"'report.verdicts.models.{m}': no model '{m}' is configured{_suggest(m, config['models'])}")
    max_k = max(t["eval_points"] for t in config["tasks"].values()) - 1  # tables show the k each task has
    for k in config["report"]["k_values"]:
        if k > max_k:
            fail(f"'report.k_values' contains {k}, beyond the last evaluated position k = {max_k}")


def validate(config: dict, schema_path: str | Path = DEFAULT_SCHEMA) -> dict:
    """Validate ``config``: schema first, then cross-field semantics. Returns the config, with named
    model sizes expanded in place into explicit keys."""
    validate_schema(config, schema_path)
    check_semantics(config)
    return config


# ---------------------------------------------------------------------------------------------
# Derived per-job specs. A rule passes one as ``params`` so that Snakemake reruns a job exactly
# when its own spec changes, and the spec's hash is stored in checkpoints and results.

def iter_runs(config: dict) -> Iterator[tuple[str, str, int]]:
    """Every (task, model, seed) to train."""
    for exp in config["experiments"]:
        for model in exp["models"]:
            for seed in exp.get("seeds", config["train"]["seeds"]):
                yield exp["task"], model, seed


def seeds_of(config: dict, task: str, model: str) -> list[int]:
    return list(experiment_of(config, task, model).get("seeds", config["train"]["seeds"]))


def task_params(entry: dict, registry: str) -> dict:
    """Constructor parameters of a ``tasks`` entry: n_dims (default the generator's) plus ``params``."""
    return {"n_dims": entry.get("n_dims", TASKS[registry].DEFAULT_N_DIMS), **entry.get("params", {})}


def task_spec(config: dict, task: str) -> dict:
    """``{"name": <registry name>, **constructor parameters}`` of a configured task instance."""
    entry = config["tasks"][task]
    registry = entry.get("task", task)
    return {"name": registry, **task_params(entry, registry)}


def task_baselines(config: dict, task: str) -> list[str]:
    entry = config["tasks"][task]
    return list(entry.get("baselines", BASELINES_FOR_TASK[entry.get("task", task)]))


def eval_data_spec(config: dict, task: str) -> dict:
    """The in-distribution evaluation set: the training generator with its evaluation overrides
    (e.g. one fixed rotation for skewed LR)."""
    ev = config["evaluation"]
    spec = task_spec(config, task)
    return {
        "task": {**spec, **task_from_spec(spec).eval_overrides()},
        "n_prompts": config["tasks"][task].get("eval_n_prompts", ev["n_prompts"]),
        "n_points": config["tasks"][task]["eval_points"],
        "seed": ev["data_seed"],
    }


def experiment_of(config: dict, task: str, model: str) -> dict:
    for exp in config["experiments"]:
        if exp["task"] == task and model in exp["models"]:
            return exp
    raise KeyError(f"no experiment trains model '{model}' on task '{task}'")


def train_spec(config: dict, task: str, model: str, seed: int) -> dict:
    exp = experiment_of(config, task, model)
    tr = {**config["train"], **exp.get("train", {})}
    model_spec = {k: v for k, v in config["models"][model].items() if k != "label"}
    if "learning_rate" in exp:
        model_spec["learning_rate"] = exp["learning_rate"]
    return {
        "task": task_spec(config, task),
        "curriculum": copy.deepcopy(config["tasks"][task]["curriculum"]),
        "model": model_spec,
        "seed": seed,
        "steps": tr["steps"],
        "batch_size": tr["batch_size"],
        "schedule": tr["schedule"],
        "grad_clip": tr.get("grad_clip"),
        **({"precision": tr["precision"]} if tr.get("precision", "fp32") != "fp32" else {}),
        "checkpoint_every": tr["checkpoint_every"],
        "log_every": tr["log_every"],
    }


def model_label(config: dict, model: str) -> str:
    return config["models"][model].get("label", model)


def spec_hash(spec: Any) -> str:
    """Stable short hash of a JSON-serialisable spec."""
    blob = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
