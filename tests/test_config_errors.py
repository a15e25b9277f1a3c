"""Nothing wrong is ever accepted: each mistake below stops the run before any job, with one line naming the
key (or file and line) and the fix. Library functions are called directly; Snakemake dry runs (in a copy of
the workflow) only where the behaviour lives in the Snakefile (command-line overrides, the working directory).
No test touches the network."""

import copy

import pytest
from workflow_helpers import copy_workflow, planned_jobs, snakemake

from mambaicl.config import load_yaml
from mambaicl.config.invocation import apply_overrides, check_start
from mambaicl.errors import ConfigError, DeviceError
from mambaicl.nlp.models import ModelUnavailableError, load_model
from mambaicl.validation import check_host, validate


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


def test_device_cuda_without_cuda_stops_before_any_job_but_plans(smoke, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    smoke["device"] = "cuda"
    validate(copy.deepcopy(smoke))  # the config is fine: a dry run plans it on any host
    msg = _error(check_host, smoke, exc=DeviceError)  # the workflow's onstart, before the first job
    assert "device: cuda" in msg and "device: cpu" in msg


def test_local_dir_that_does_not_exist_is_refused(smoke, tmp_path):
    smoke["nlp"]["models"].append("llama_7b")
    smoke["nlp"]["local_dirs"] = {"llama_7b": str(tmp_path / "no_such_llama")}
    validate(smoke)
    msg = _error(check_host, smoke)
    assert f"nlp.local_dirs.llama_7b = {tmp_path / 'no_such_llama'} is not a directory" in msg
    check_host(smoke, nlp_models={"smollm2_135m"})  # a run that evaluates no LLaMA is not stopped
    (tmp_path / "no_such_llama").mkdir()
    check_host(smoke)


def test_offline_hub_model_missing_from_the_cache(smoke, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty hub cache
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    smoke["nlp"]["models"].append("mamba_130m")
    check_host(smoke)  # online, only the job can tell (and asking the hub here would be a request)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    msg = _error(check_host, smoke)
    assert "'mamba_130m'" in msg and "`hf download state-spaces/mamba-130m-hf`" in msg
    assert "nlp.local_dirs.mamba_130m" in msg and "huggingface-cli" not in msg
    # at job time, a missing local folder is not advised as a hub download
    with pytest.raises(ModelUnavailableError) as info:
        load_model("llama_7b", "/nonexistent/llama")
    assert "nlp.local_dirs.llama_7b" in str(info.value) and "download /nonexistent" not in str(info.value)


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
    # the Snakefile reads every config file so, before Snakemake's own loader keeps the last duplicate
    assert _error(check_start, tmp_path, tmp_path, None, [path]) == msg


def test_command_line_values_are_typed_as_in_a_config_file(smoke):
    given = {"require_cuda": "false", "train": {"steps": "5", "grad_clip": "1e-1", "seeds": ["1", "2"]},
             "run_name": "007"}
    smoke.update(copy.deepcopy({k: v for k, v in given.items() if k != "train"}))
    smoke["train"].update(given["train"])  # Snakemake merges --config into the config like this
    apply_overrides(smoke, given)
    assert smoke["require_cuda"] is False and smoke["run_name"] == "007"
    assert smoke["train"]["steps"] == 5 and smoke["train"]["grad_clip"] == 0.1 and smoke["train"]["seeds"] == [1, 2]
    validate(smoke)
    msg = _error(apply_overrides, {"train": {}}, {"train": {"steps": "[5"}})
    assert "--config 'train={key: value}'" in msg


def test_paper_config_plans_on_cpu_with_command_line_overrides(tmp_path):
    work = copy_workflow(tmp_path)
    out = snakemake(["-n", "--config", "require_cuda=false", "train={steps: 5, log_every: 5}"], cwd=work)
    assert planned_jobs(out.stdout + out.stderr).get("train", 0) > 100


def test_started_outside_the_repository_root(tmp_path):
    work = copy_workflow(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = snakemake(["-n", "-s", str(work / "Snakefile")], cwd=elsewhere, check=False)
    assert out.returncode != 0
    lines = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("error:")]
    assert lines == [f"error: run Snakemake from the repository root (cd {work.resolve()}): it was started in "
                     f"{elsewhere.resolve()}, where the workflow's files are not found"]
    out = snakemake(["-n", "-s", str(work / "Snakefile"), "-d", str(elsewhere)], cwd=work, check=False)
    assert out.returncode != 0 and f"give --directory {work.resolve()}" in out.stdout + out.stderr


@pytest.mark.parametrize("key,value", [("fixed_spacing", "uniform"), ("dummy_inactive", "half")])
def test_outlier_placement_options_are_checked(smoke, key, value):
    smoke["tasks"]["many_outlier_regression"].setdefault("params", {})[key] = value
    msg = _error(validate, smoke)
    assert "'tasks.many_outlier_regression.params'" in msg and key in msg and repr(value) in msg


def test_outlier_placement_options_are_accepted(smoke):
    smoke["tasks"]["many_outlier_regression"].setdefault("params", {}).update(
        fixed_spacing="even", dummy_inactive="zero")
    validate(smoke)
