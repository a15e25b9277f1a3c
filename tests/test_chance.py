"""Verdict and claim thresholds relative to each task's trivial level (analysis.chance): a model at chance
fails on every task, whatever the task's chance level; tests with synthetic curves."""

import numpy as np
import pandas as pd
import pytest

from mambaicl.analysis.chance import chance_error, relative_error, trivial_regression_error
from mambaicl.analysis.claims import DEFAULT_CLAIMS_RULE, NOT_TESTED, REPRODUCED, g_compare_claims
from mambaicl.analysis.verdicts import DEFAULT_RULE, accuracy_verdict, regression_verdict, task_verdicts

K = 20


def _curve(kind, name, values):
    values = np.broadcast_to(np.asarray(values, float), (K,))
    return pd.DataFrame({"kind": kind, "name": name, "label": name, "k": range(K), "normalized_mean": values})


def test_trivial_level_is_the_better_of_zero_predictor_and_averaging():
    only_ls = _curve("baseline", "least_squares", 0.0)
    assert trivial_regression_error(only_ls, None, 5) == 1.0            # the zero predictor's analytic level
    with_avg = pd.concat([only_ls, _curve("baseline", "averaging", 0.6)])
    assert trivial_regression_error(with_avg, None, 5) == pytest.approx(0.6)
    measured_zero = pd.concat([with_avg, _curve("baseline", "zero", 0.5)])
    assert trivial_regression_error(measured_zero, None, 5) == pytest.approx(0.5)
    # a model named like a baseline is not a trivial predictor
    assert trivial_regression_error(pd.concat([only_ls, _curve("model", "averaging", 0.1)]), None, 5) == 1.0


def test_chance_levels():
    assert chance_error("accuracy") == 0.5
    assert chance_error("retrieval", 4) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="pairs"):
        chance_error("retrieval", None)
    assert relative_error(0.75, 0.75) == 1.0


def test_models_at_chance_fail_on_every_task():
    # MQAR with 4 pairs: chance error 0.75 is below an absolute 0.8, yet chance must fail
    retrieval = pd.DataFrame({"setting": "standard", "kind": ["model", "model", "baseline", "baseline"],
                              "name": ["chance", "learner", "mqar_nearest_key", "mqar_zero"],
                              "metric": "nearest_value_accuracy", "mean": [0.25, 0.97, 1.0, 0.25]})
    r = task_verdicts("retrieval", pd.DataFrame(), DEFAULT_RULE, 2, retrieval, n_pairs=4).set_index("name")
    assert r.verdict.to_dict() == {"chance": "fails", "learner": "on_par"}
    # regression where averaging reaches 0.6: a model at 0.55 learned nothing useful, and fails
    curves = pd.concat([_curve("model", "trivial", 0.55), _curve("model", "learner", 0.05),
                        _curve("baseline", "averaging", 0.6), _curve("baseline", "least_squares", 0.0)])
    v = task_verdicts("regression", curves, DEFAULT_RULE, 5).set_index("name")
    assert v.verdict.to_dict() == {"trivial": "fails", "learner": "on_par"}
    assert v.loc["trivial", "trivial"] == pytest.approx(0.6)
    # parity at chance fails; the rule's accuracy threshold is 1 - 0.8 * 0.5 = 0.6
    assert accuracy_verdict(0.5, DEFAULT_RULE) == "fails" and accuracy_verdict(0.61, DEFAULT_RULE) == "gap"
    # the same error passes where the trivial level is higher
    assert regression_verdict(0.55, 0.0, DEFAULT_RULE, trivial=1.0) == "gap"


def test_claims_count_a_model_at_the_trivial_level_as_untrained(tmp_path):
    def run(transformer_err):
        curves = pd.concat([_curve("model", "tf", transformer_err), _curve("model", "mb", 0.05),
                            _curve("baseline", "averaging", 0.5)])
        path = tmp_path / "curves.csv"
        curves.to_csv(path, index=False)
        tasks = {"linear_regression": {"instance": "lr", "models": ["tf", "mb"], "train_points": K, "eval_points": K,
                                       "labels": {"tf": "T", "mb": "M"}, "curves": str(path)}}
        roles = {"transformer": "tf", "mamba": "mb", "s4": None, "rwkv": None}
        claims = g_compare_claims(tasks, roles, DEFAULT_CLAIMS_RULE, 5)
        return next(c for c in claims if c.id == "G1/linear_regression")
    # 0.45 is under an absolute 0.8 but 0.9 of the averaging baseline's 0.5: not learned, so not tested
    assert run(0.45).verdict == NOT_TESTED and "trivial level 0.5" in run(0.45).measured
    assert run(0.05).verdict == REPRODUCED
