"""How the workflow was started, checked while the Snakefile is read (before any job): the working
directory, the config files (read again strictly: Snakemake's own loader keeps the last of two equal keys),
and the values given with ``--config``, which Snakemake leaves as text when they are nested or not in its
own spellings (``false``, ``{steps: 5}``). Snakemake's objects stay in the Snakefile: these functions take
plain values.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from ..errors import ConfigError
from .schema import DEFAULT_SCHEMA, StrictLoader, _resolve, load_yaml


def check_working_directory(root: str | Path, cwd: str | Path, directory_option: str | Path | None = None) -> None:
    """The workflow's paths are relative to the repository root (the Snakefile's folder): started anywhere
    else, its first job would fail on a missing input. ``directory_option``: the ``--directory`` given."""
    root, cwd = Path(root).resolve(), Path(cwd).resolve()
    if cwd == root:
        return
    if directory_option is not None:
        raise ConfigError(f"--directory {directory_option} is not the repository root: give --directory {root}, "
                          "or leave it out and run from the root")
    raise ConfigError(f"run Snakemake from the repository root (cd {root}): it was started in {cwd}, where the "
                      "workflow's files are not found")


def check_start(root, cwd, directory_option, configfiles, main_process: bool = True) -> None:
    """Everything about the invocation: the working directory (in the main process only: a cluster job
    starts where its executor puts it) and each config file, read strictly (file and line of a problem)."""
    if main_process:
        check_working_directory(root, cwd, directory_option)
    for path in configfiles:
        load_yaml(path)


def _child(schema: dict | None, key, root: dict) -> dict | None:
    """The schema of ``key`` (a mapping key or a list index) under ``schema``; None where it says nothing."""
    if not isinstance(schema, dict):
        return None
    schema = _resolve(schema, root)
    if isinstance(key, int):
        return schema.get("items")
    if key in schema.get("properties", {}):
        return schema["properties"][key]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _types(schema: dict | None, root: dict) -> set[str]:
    """The JSON types the schema accepts there ('string' for an enum or const of names)."""
    if not isinstance(schema, dict):
        return set()
    schema = _resolve(schema, root)
    types = schema.get("type", [])
    out = set(types if isinstance(types, list) else [types])
    if any(isinstance(v, str) for v in schema.get("enum", []) + [schema.get("const")]):
        out.add("string")
    for alternative in schema.get("oneOf", []) + schema.get("anyOf", []):
        out |= _types(alternative, root)
    return out


def _coerce(value, schema, root: dict, where: str, top: str):
    if isinstance(value, list):
        return [_coerce(v, _child(schema, i, root), root, f"{where}[{i}]", top) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {k: _coerce(v, _child(schema, k, root), root, f"{where}.{k}", top) for k, v in value.items()}
    types = _types(schema, root)
    if not isinstance(value, str) or "string" in types:
        return value
    try:
        parsed = yaml.load(value, Loader=StrictLoader)  # what the same text means in a config file
    except yaml.YAMLError:
        raise ConfigError(f"config error: --config {where}={value!r} is not a valid YAML value; give a nested key "
                          f"as --config '{top}={{key: value}}' (Snakemake takes no dotted keys)") from None
    if isinstance(parsed, str) and "number" in types:
        try:  # 1e-3, text to YAML 1.1, is the number Snakemake makes of it at the top level
            return float(parsed)
        except ValueError:
            pass
    return parsed


def apply_overrides(config: dict, overrides: Mapping, schema_path: str | Path = DEFAULT_SCHEMA) -> dict:
    """Give the values of ``--config`` (``overrides``, as Snakemake parsed them, already merged into
    ``config``) the types they would have in a config file: wherever the schema expects no string, a string
    is read as a YAML value (``require_cuda=false``, ``'train={steps: 5}'``). Returns ``config``."""
    root = load_yaml(schema_path)

    def walk(target: dict, given: Mapping, schema, where: str) -> None:
        for key, value in given.items():
            path = f"{where}.{key}" if where else str(key)
            sub = _child(schema, key, root)
            if isinstance(value, Mapping) and isinstance(target.get(key), dict):
                walk(target[key], value, sub, path)
            else:
                target[key] = _coerce(value, sub, root, path, path.split(".")[0])

    walk(config, overrides, root, "")
    return config
