"""Load the workflow config and check it against its JSON schema (workflow/schemas/config.schema.yaml).

Errors are ``ConfigError`` with one line naming the offending key, and a suggestion for a misspelled one.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import jsonschema
import yaml

from ..errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[3]
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


def suggest(word: str, choices) -> str:
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
        return (f"unknown key '{full}'{suggest(key, allowed)} "
                f"(allowed under {where}: {', '.join(allowed)})")
    if err.validator == "required":
        return f"missing key under {where}: {err.message}"
    if err.validator == "enum" and list(err.schema_path)[-2:-1] == ["propertyNames"]:
        # a bad mapping key (task name): the error sits on the parent mapping, the name is the instance
        return (f"unknown name '{where}.{err.instance}'{suggest(err.instance, err.validator_value)} "
                f"(implemented: {', '.join(map(str, err.validator_value))})")
    if err.validator == "enum":
        return (f"'{where}': {err.instance!r} is not a known name{suggest(err.instance, err.validator_value)} "
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

