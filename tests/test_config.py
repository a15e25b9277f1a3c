"""Config validation: typos, unknown names and bad numbers stop the run with a message naming the key."""

import copy
import subprocess
import sys

import pytest

from mambaicl.config import iter_runs, load_yaml, spec_hash, train_spec
from mambaicl.validation import validate
from mambaicl.errors import ConfigError
from workflow_helpers import copy_workflow


@pytest.fixture(params=["paper", "smoke"])
def config(request, repo):
    return load_yaml(repo / "workflow" / "config" / f"{request.param}.yaml")


def test_shipped_configs_validate(config):
    validate(copy.deepcopy(config))


def test_cpu_config_is_the_spec_recipe(repo):
    """The laptop config (README: in-context learning emerging in well under an hour on 2 cores)."""
    cfg = validate(load_yaml(repo / "workflow" / "config" / "cpu.yaml"))
    lr = cfg["tasks"]["linear_regression"]
    assert lr["n_dims"] == 5 and lr["curriculum"]["points"] == {"start": 11, "end": 11}
    assert cfg["train"]["steps"] == 6000 and cfg["train"]["schedule"] == "constant"
    assert {m["backbone"] for m in cfg["models"].values()} >= {"gpt2", "mamba"}
    assert all(m["d_model"] == 64 and m["n_layer"] == 4 and m["learning_rate"] == 1e-3
               for m in cfg["models"].values())


def _error(cfg) -> str:
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_misspelled_key_is_named_with_a_suggestion(config):
    config["train"]["stpes"] = config["train"].pop("steps")
    msg = _error(config)
    assert "train.stpes" in msg and "did you mean 'steps'" in msg


def test_misspelled_top_level_key(config):
    config["evaluaton"] = config.pop("evaluation")
    msg = _error(config)
    assert "'evaluaton'" in msg


def test_unknown_task_name(config):
    config["tasks"]["linear_regresion"] = config["tasks"].pop("linear_regression")
    msg = _error(config)
    assert "tasks.linear_regresion" in msg and "linear_regression" in msg


def test_unknown_backbone(config):
    config["models"]["transformer"]["backbone"] = "gtp2"
    msg = _error(config)
    assert "models.transformer.backbone" in msg and "gtp2" in msg


def test_out_of_range_number(config):
    config["train"]["steps"] = 0
    msg = _error(config)
    assert "train.steps" in msg and "0" in msg


def test_experiment_refers_to_unconfigured_model(config):
    config["experiments"][0]["models"].append("mamba_typo")
    msg = _error(config)
    assert "experiments[0].models" in msg and "mamba_typo" in msg


def test_width_not_divisible_by_heads(config):
    config["models"]["transformer"]["n_head"] = 7
    msg = _error(config)
    assert "n_head" in msg and "divisible" in msg


def test_curriculum_beyond_task_dims(config):
    config["tasks"]["linear_regression"]["curriculum"]["dims"]["end"] = 999
    assert "curriculum.dims.end" in _error(config)


def test_report_k_beyond_evaluation(config):
    config["report"]["k_values"].append(10_000)
    assert "report.k_values" in _error(config)


def test_train_spec_hash_changes_with_spec(config):
    task, model, seed = next(iter_runs(config))
    a = train_spec(config, task, model, seed)
    b = train_spec(config, task, model, seed + 1)
    assert spec_hash(a) != spec_hash(b)
    assert spec_hash(a) == spec_hash(copy.deepcopy(a))


def test_snakemake_reports_config_typo_in_one_line(repo, tmp_path):
    bad = load_yaml(repo / "workflow" / "config" / "smoke.yaml")
    bad["train"]["learning_rte"] = 1
    path = tmp_path / "bad.yaml"
    import yaml

    path.write_text(yaml.safe_dump(bad))
    (tmp_path / "wd").mkdir()
    work = copy_workflow(tmp_path / "wd")  # the workflow runs from its root; a copy keeps the checkout clean
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", str(path)],
        cwd=work, capture_output=True, text=True,
    )
    assert out.returncode != 0
    lines = [ln for ln in (out.stdout + out.stderr).splitlines() if "config error" in ln]
    assert lines == ["config error: unknown key 'train.learning_rte' (allowed under train: batch_size, "
                     "checkpoint_every, compile, grad_clip, log_every, pack, precision, schedule, seeds, steps)"]


def test_option_of_another_backbone_is_rejected(config):
    config["models"]["transformer"]["d_state"] = 16
    msg = _error(config)
    assert "models.transformer.d_state" in msg and "does not apply to backbone gpt2" in msg


def test_hybrid_width_must_divide_by_its_default_heads(config):
    config["models"]["hybrid"] = {"backbone": "mambaformer", "d_model": 100, "n_layer": 2, "learning_rate": 1e-4}
    msg = _error(config)
    assert "models.hybrid" in msg and "n_head 8" in msg


def test_learned_table_too_short_for_the_training_prompts(config):
    m = config["models"]["transformer"]
    m.update(positional_encoding="learned", max_tokens=4)
    assert "max_tokens" in _error(config)


def test_max_tokens_without_a_learned_table_is_incompatible(config):
    config["models"]["transformer"]["max_tokens"] = 512
    assert "positional_encoding is none" in _error(config)


def test_experiment_overrides_reach_the_train_spec(config):
    exp = config["experiments"][0]
    exp.update(learning_rate=4e-4, train={"schedule": "constant", "grad_clip": 10.0})
    validate(config)
    task, model, seed = next(iter_runs(config))
    spec = train_spec(config, task, model, seed)
    assert spec["model"]["learning_rate"] == 4e-4
    assert spec["schedule"] == "constant" and spec["grad_clip"] == 10.0
    assert spec["steps"] == config["train"]["steps"]


def test_same_model_on_same_task_twice_is_rejected(config):
    config["experiments"].append(copy.deepcopy(config["experiments"][0]))
    assert "again" in _error(config)


def test_impossible_task_parameter_is_named(config):
    config["tasks"]["sparse_linear_regression"] = {
        "params": {"sparsity": 50}, "n_dims": 20, "eval_points": 41,
        "curriculum": {"dims": {"start": 5, "end": 20}, "points": {"start": 11, "end": 41}}}
    msg = _error(config)
    assert "tasks.sparse_linear_regression.params" in msg and "sparsity" in msg


def test_unknown_task_parameter_is_named(config):
    config["tasks"]["linear_regression"]["params"] = {"noise": 1.0}
    msg = _error(config)
    assert "tasks.linear_regression.params" in msg and "noise" in msg


def test_task_variant_needs_a_known_generator(config):
    entry = copy.deepcopy(config["tasks"]["linear_regression"])
    config["tasks"]["lr_variant"] = entry
    msg = _error(config)
    assert "tasks.lr_variant" in msg and "tasks.lr_variant.task" in msg


def test_evaluation_only_task_cannot_be_trained(config):
    entry = copy.deepcopy(config["tasks"]["linear_regression"])
    entry["task"] = "noisy_linear_regression"
    config["tasks"]["noisy"] = entry
    config["experiments"].append({"task": "noisy", "models": ["transformer"]})
    assert "evaluation-only" in _error(config)


def test_broken_yaml_is_a_config_error(tmp_path):
    from mambaicl.config import load_yaml

    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  steps: 5\n   seeds: [1]\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(path)


def test_named_size_expands_into_explicit_keys(config):
    config["models"]["small_mamba"] = {"backbone": "mamba", "size": "small", "learning_rate": 1e-4}
    config["models"]["wide_tiny_gpt2"] = {"backbone": "gpt2", "size": "tiny", "d_model": 96, "learning_rate": 1e-4}
    validate(config)
    assert config["models"]["small_mamba"] == {"backbone": "mamba", "d_model": 128, "n_layer": 12,
                                               "learning_rate": 1e-4}
    assert config["models"]["wide_tiny_gpt2"]["d_model"] == 96  # an explicit key wins
    assert config["models"]["wide_tiny_gpt2"]["n_layer"] == 3


def test_size_without_a_preset_or_dimensions_is_named(config):
    config["models"]["hybrid"] = {"backbone": "mambaformer", "size": "small", "learning_rate": 1e-4}
    assert "models.hybrid.size" in _error(config)
    del config["models"]["hybrid"]
    config["models"]["bare"] = {"backbone": "mamba", "learning_rate": 1e-4}
    assert "models.bare.d_model" in _error(config)
