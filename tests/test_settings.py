"""Evaluation settings (OOD suite, outlier and MQAR sets, cross-task prompts) and Park's verdict rule."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from mambaicl.evaluation import ood
from mambaicl.config import load_yaml
from mambaicl.evaluation.prompt_sets import PromptSet
from mambaicl.errors import ConfigError
from mambaicl.evaluation.scoring import score_baseline, score_model
from mambaicl.models import build_model
from mambaicl.evaluation.settings import generate_setting_prompts, setting_baselines, setting_data_spec, settings_of
from mambaicl.tasks import make_task
from mambaicl.analysis.verdicts import accuracy_verdict, regression_verdict, task_verdicts
from mambaicl.validation import validate

RULE = {"fails_at": 0.8, "on_par_abs": 0.05, "on_par_rel": 0.2, "parity_on_par_at": 0.95}


@pytest.fixture
def smoke(repo):
    return load_yaml(repo / "workflow/config/smoke.yaml")


def _error(cfg) -> str:
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_ood_suite_expands_into_named_settings(smoke):
    smoke["tasks"]["linear_regression"]["ood_suite"] = "all"
    validate(smoke)
    assert settings_of(smoke, "linear_regression") == list(ood.OOD_SETTINGS)
    assert "ood_suite" not in smoke["tasks"]["linear_regression"]
    validate(smoke)  # idempotent: a validated config validates again unchanged
    assert settings_of(smoke, "linear_regression") == list(ood.OOD_SETTINGS)
    # default baselines: the task's quick ones only
    assert setting_baselines(smoke, "linear_regression", "skewed", ["least_squares", "xgboost"]) == ["least_squares"]


def test_paper_config_settings(repo):
    cfg = validate(load_yaml(repo / "workflow/config/paper.yaml"))
    assert len(settings_of(cfg, "linear_regression")) == 14
    assert settings_of(cfg, "ortho_outlier_fresh") == ["fixed_dummy", "wo_dummy"]
    assert len(settings_of(cfg, "mqar")) == 7
    spec = setting_data_spec(cfg, "mqar", "noisy_query_0.4")
    assert spec["n_prompts"] == 2560 and spec["task"]["query_noise"] == 0.4 and spec["task"]["n_pairs"] == 64
    relu = setting_data_spec(cfg, "relu_nn", "linear_regression_prompts")
    assert relu["task"] == {"name": "linear_regression", "n_dims": 20}  # not relu's hidden width


@pytest.mark.parametrize("task, setting, match", [
    ("mqar", {"ood": "skewed"}, "regression tasks"),
    ("linear_regression", {"ood": "skewed", "params": {"x": 1}}, "no 'task' or 'params'"),
    ("mqar", {"params": {"query_nois": 0.4}}, "query_nois"),
    ("relu_nn", {"task": "mqar"}, "layout"),
    ("relu_nn", {"task": "linear_regresion"}, "unknown generator"),
    ("relu_nn", {"n_prompts": 10}, "how the set differs"),
    ("linear_regression", {"ood": "skewed", "baselines": ["least_square"]}, "unknown baseline"),
])
def test_bad_settings_are_named(smoke, task, setting, match):
    smoke["tasks"][task]["eval_settings"] = {"bad_set": setting}
    msg = _error(smoke)
    assert f"tasks.{task}.eval_settings.bad_set" in msg and match in msg


def test_ood_suite_on_a_non_regression_task_and_bad_names(smoke):
    cfg = copy.deepcopy(smoke)
    cfg["tasks"]["sparse_parity"]["ood_suite"] = ["skewed"]
    assert "tasks.sparse_parity.ood_suite" in _error(cfg)
    cfg = copy.deepcopy(smoke)
    cfg["tasks"]["linear_regression"]["ood_suite"] = ["skewd"]
    assert "skewd" in _error(cfg)


def test_verdict_config_names_unknown_tasks_and_models(smoke):
    cfg = copy.deepcopy(smoke)
    cfg["report"]["verdicts"]["tasks"]["linear_regresion"] = "linear_regression"
    assert "report.verdicts.tasks.linear_regresion" in _error(cfg)
    cfg = copy.deepcopy(smoke)
    cfg["report"]["verdicts"]["models"]["mamba2"] = "mamba"
    assert "report.verdicts.models.mamba2" in _error(cfg)


def test_setting_prompt_sets(smoke):
    validate(smoke)
    a = generate_setting_prompts(setting_data_spec(smoke, "skewed_linear_regression", "orthogonal_train_test"))
    b = generate_setting_prompts(setting_data_spec(smoke, "skewed_linear_regression", "orthogonal_train_test"))
    assert torch.equal(a.prompts.xs, b.prompts.xs) and a.meta["query_strategy"]
    assert a.meta["normalizer"] == 5 and a.meta["reference_line"] == 1.0
    s = generate_setting_prompts(setting_data_spec(smoke, "skewed_linear_regression", "scale_y_2"))
    assert s.meta["reference_line"] == pytest.approx(4.0) and not s.meta["query_strategy"]
    wo = generate_setting_prompts(setting_data_spec(smoke, "ortho_outlier_regression", "wo_dummy"))
    assert wo.prompts.mask.all()  # no outliers
    fixed = generate_setting_prompts(setting_data_spec(smoke, "ortho_outlier_regression", "fixed_dummy"))
    assert (fixed.prompts.mask == fixed.prompts.mask[:1]).all() and not fixed.prompts.mask.all()


def test_query_strategy_scoring_matches_one_prompt_per_query():
    """A model on a prompt-strategy set is scored query by query: entry i is its error on the
    (i + 1)-point prompt whose last input is the query; invalid queries are NaN."""
    task = make_task("linear_regression", n_dims=4)
    model = build_model({"backbone": "mamba", "d_model": 16, "n_layer": 1}, task.token_dim, seed=0)
    prompts = ood.make_ood_prompts("orthogonal_train_test", 6, 7, seed=1, n_dims=4)
    ps = PromptSet(prompts, {})
    errs, extras = score_model(model, task, ps, batch_size=4, device=torch.device("cpu"))
    assert errs.shape == (6, 7) and extras == {}
    assert np.isnan(errs[:, 4:]).all() and not np.isnan(errs[:, :4]).any()  # defined for i < d only
    with torch.no_grad():
        for i in range(4):
            qb = ood.query_prompt(prompts, i)
            pred = model.predict(task, qb)[:, -1]
            np.testing.assert_allclose(errs[:, i], ((pred - qb.ys[:, -1]) ** 2).double().numpy(), rtol=1e-5)
    ls, _ = score_baseline("least_squares", task, ps)
    assert np.nanmax(ls[:, 1:4]) > 0.1  # orthogonal queries: least squares cannot know the answer


def test_mqar_extras_are_scored():
    task = make_task("mqar", n_dims=5, n_pairs=4)
    prompts = task.sample(32, 1, torch.Generator().manual_seed(0))
    errs, extras = score_baseline("mqar_nearest_key", task, PromptSet(prompts, {}))
    assert set(extras) == {"nearest_value_accuracy", "key_match_error"}
    assert extras["nearest_value_accuracy"].mean() == 1.0 and errs.max() < 1e-10


def test_verdict_rules():
    assert regression_verdict(0.9, 0.0, RULE) == "fails"
    assert regression_verdict(0.04, 0.0, RULE) == "on_par"       # within 0.05 absolute
    assert regression_verdict(0.5, 0.45, RULE) == "on_par"       # within 20 % relative
    assert regression_verdict(0.3, 0.1, RULE) == "gap"
    assert accuracy_verdict(0.55, RULE) == "fails"
    assert accuracy_verdict(0.97, RULE) == "on_par"
    assert accuracy_verdict(0.8, RULE) == "gap"


def _curve(kind, name, values):
    return pd.DataFrame({"kind": kind, "name": name, "label": name, "k": range(len(values)),
                         "normalized_mean": values})


def test_task_verdicts_use_the_window_and_best_reference():
    curves = pd.concat([
        _curve("model", "good", [1, 0.5, 0.02, 0.02]),
        _curve("model", "gappy", [1, 0.9, 0.9, 0.3]),   # window 2: 0.6
        _curve("model", "bad", [1, 1, 0.9, 0.85]),
        _curve("baseline", "least_squares", [1, 0.5, 0.0, 0.0]),
    ])
    v = task_verdicts("regression", curves, RULE, window=2).set_index("name")
    assert v.verdict.to_dict() == {"good": "on_par", "gappy": "gap", "bad": "fails"}
    assert v.loc["gappy", "score"] == pytest.approx(0.6) and v.loc["good", "best_reference"] == 0.0
    retrieval = pd.DataFrame({"setting": "standard", "kind": ["model", "model", "baseline"],
                              "name": ["a", "b", "mqar_nearest_key"], "metric": "nearest_value_accuracy",
                              "mean": [0.98, 0.1, 1.0]})
    r = task_verdicts("retrieval", curves, RULE, 2, retrieval, n_pairs=4).set_index("name")
    assert r.verdict.to_dict() == {"a": "on_par", "b": "fails"}
    assert r.loc["a", "trivial"] == pytest.approx(0.75)


@pytest.mark.slow
def test_smoke_settings_outputs(smoke_run):
    res = smoke_run / "results/smoke"
    for task, setting in [("linear_regression", "skewed"), ("skewed_linear_regression", "orthogonal_train_test"),
                          ("ortho_outlier_regression", "wo_dummy"), ("mqar", "noisy_query_0.4")]:
        curves = pd.read_csv(res / f"settings/{task}/{setting}/curves.csv")
        assert set(curves.kind) == {"model", "baseline"}, (task, setting)
    orth = pd.read_csv(res / "settings/skewed_linear_regression/orthogonal_train_test/curves.csv")
    assert orth.k.max() == 4  # orthogonal queries exist for k < d = 5 only
    retrieval = pd.read_csv(res / "metrics/mqar/retrieval.csv")
    oracle = retrieval[(retrieval.name == "mqar_nearest_key") & (retrieval.metric == "nearest_value_accuracy")]
    assert set(oracle.setting) == {"standard", "noisy_query_0.4"}
    assert oracle.set_index("setting").loc["standard", "mean"] == 1.0
    verdicts = pd.read_csv(res / "metrics/verdicts.csv", keep_default_na=False)
    assert set(verdicts.verdict) <= {"on_par", "gap", "fails"}
    lr = verdicts[verdicts.task == "linear_regression"].set_index("model")
    assert set(lr.index) == {"transformer", "mamba", "mambaformer"} and (lr.published == "on_par").all()
    section = (smoke_run / "results/smoke/paper/generated/sections/tasks.tex").read_text()
    for name in ["figures/eval_settings_linear_regression.pdf", "figures/skewed_covariance.pdf",
                 "tables/retrieval_mqar.tex", "tables/verdicts.tex", "tables/eval_settings_ortho_outlier_regression.tex"]:
        assert f"generated/{name}" in section
        assert (smoke_run / "results/smoke/paper/generated" / name).stat().st_size > 0
