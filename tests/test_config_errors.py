"""Nothing wrong is ever accepted: each mistake below stops the run before any job, with one line naming the
key (or file and line) and the fix. Library functions are called directly; Snakemake dry runs (in a copy of
the workflow) only where the behaviour lives in the Snakefile (command-line overrides, the working directory).
No test touches the network."""

import pytest

from mambaicl.config import load_yaml
from mambaicl.errors import ConfigError
from mambaicl.validation import validate


@pytest.fixture
def smoke(repo):
    return load_yaml(repo / "workflow" / "config" / "smoke.yaml")


def _error(fn, *args, exc=ConfigError) -> str:
    with pytest.raises(exc) as info:
        fn(*args)
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


def test_integral_float_for_an_integer_is_refused(smoke, tmp_path):
    path = tmp_path / "steps.yaml"
    path.write_text("steps: 1.0e+2\nseeds: [1, 2.0]\n")
    smoke["train"].update(load_yaml(path))
    msg = _error(validate, smoke)
    assert "'train.steps' = 100.0" in msg and "write 100" in msg


def test_number_read_as_text_names_the_spelling_yaml_reads(smoke, tmp_path):
    path = tmp_path / "lr.yaml"
    path.write_text("learning_rate: 1e-3\n")
    smoke["models"]["transformer"].update(load_yaml(path))
    msg = _error(validate, smoke)
    assert "'models.transformer.learning_rate' = '1e-3' is text" in msg and "write 1.0e-3" in msg


@pytest.mark.parametrize("text, line, what", [
    ("", 1, "empty"),
    ("train:\n  steps: 5\n   seeds: [1]\n", 3, "not valid YAML"),
    ("run_name: a\ntrain:\n  steps: 5\n  seeds: [1]\n  steps: 6\n", 5, "duplicate key 'steps' (first given on line 3)"),
])
def test_yaml_errors_name_file_and_line(tmp_path, text, line, what):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    msg = _error(load_yaml, path)
    assert msg.startswith(f"{path}, line {line}: ") and what in msg
