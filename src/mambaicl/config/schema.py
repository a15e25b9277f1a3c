"""Load the workflow config and check it against its JSON schema (workflow/schemas/config.schema.yaml).

Errors are ``ConfigError`` with one line naming the offending key (or file and line), and the fix: a
suggestion for a misspelled key, the number to write for an integral float or a number YAML read as text.
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path

import jsonschema
import yaml

from ..errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SCHEMA = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (plain PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:  # an unhashable key: the constructor below reports it
                continue
            if first is not key_node.start_mark:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}' (first given on line {first.line + 1}): keep one of them",
                    key_node.start_mark)
        return super().construct_mapping(node, deep)


def _yaml_error(path, err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f"{path}, line {mark.line + 1}" if mark else str(path)
    problem = getattr(err, "problem", None) or " ".join(str(err).split())
    if "duplicate key" in problem:
        return f"{where}: {problem}"
    context = getattr(err, "context", None)
    return (f"{where}: not valid YAML ({f'{context}: ' if context else ''}{problem}); check the indentation "
            "(spaces, no tabs) and the brackets and quotes there")


def load_yaml(path: str | Path) -> dict:
    """A YAML mapping, read strictly: a broken file, an empty one or a key given twice is a ``ConfigError``
    naming the file and the line."""
    try:
        with open(path) as f:
            data = yaml.load(f, Loader=StrictLoader)
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: give an existing file (paths are relative to the repository root)"
                          ) from None
    except yaml.YAMLError as e:
        raise ConfigError(_yaml_error(path, e)) from None
    if data is None:
        raise ConfigError(f"{path}, line 1: the file is empty; write the config's keys there (start from a copy "
                          "of workflow/config/smoke.yaml)")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}, line 1: expected a mapping of config keys (key: value) at the top level, "
                          f"found a {type(data).__name__}")
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
    if err.validator == "type":
        wanted = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        if "integer" in wanted and isinstance(err.instance, float) and err.instance.is_integer():
            return f"'{where}' = {err.instance!r} must be a whole number: write {int(err.instance)}"
        fix = number_fix(err.instance, "number" not in wanted) if {"integer", "number"} & set(wanted) else None
        if fix is not None:
            why = (f"YAML reads {err.instance} as text: a number with an exponent needs a dot and a sign"
                   if re.search("[eE]", err.instance) else "a quoted number is text")
            return f"'{where}' = '{err.instance}' is text, not a number: write {fix} ({why})"
    if err.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"'{where}' = {err.instance!r} is out of range ({err.validator} {err.validator_value})"
    return f"'{where}': {err.message}"


_NUMBER = re.compile(r"([+-]?)(\d*)\.?(\d*)[eE]([+-]?)(\d+)")


def number_fix(text, integer: bool) -> str | None:
    """How to write ``text``, a string that reads as a number, so that YAML reads it as one (None if it
    does not read as a finite number, or, for an ``integer``, not as a whole one)."""
    if not isinstance(text, str):
        return None
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        return None
    if not math.isfinite(value) or (integer and not value.is_integer()):
        return None
    if integer:
        return str(int(value))
    m = _NUMBER.fullmatch(text.strip().replace("_", ""))
    if m:  # keep the user's digits: 1e-3 -> 1.0e-3, 5E4 -> 5.0e+4
        sign, whole, frac, exp_sign, exp = m.groups()
        return f"{sign}{whole or '0'}.{frac or '0'}e{exp_sign or '+'}{exp}"
    return text.strip()


def _is_integer(checker, instance) -> bool:
    """An int, not an integral float: JSON Schema's own rule accepts 100.0, which training cannot use."""
    return isinstance(instance, int) and not isinstance(instance, bool)


StrictValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer))


def validate_schema(config: dict, schema_path: str | Path = DEFAULT_SCHEMA) -> None:
    schema = load_yaml(schema_path)
    validator = StrictValidator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        err = jsonschema.exceptions.best_match(errors) if len(errors) > 1 else errors[0]
        raise ConfigError(f"config error: {_format_error(err, schema)}")

