"""The claims ledger (spec 12): every criterion on synthetic curves and tables where it holds and where it
fails, the "not tested" gates, Park's protocol in the verdicts, the rendered section and the config roles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mambaicl.analysis.claims import (DEFAULT_CLAIMS_RULE as RULE, g5_probing_claims, g6_nlp_claims,
                                      g7_scaling_claim, g_compare_claims, window_error)
from mambaicl.analysis.claims_config import claim_roles, claim_tasks
from mambaicl.analysis.claims_park import claims_job, park_claims
from mambaicl.analysis.verdicts import task_verdicts
from mambaicl.config import load_yaml
from mambaicl.errors import ConfigError
from mambaicl.report.claims import claim_counts, claims_section_tex
from mambaicl.validation import validate

PUBLISHED = pd.read_csv("workflow/resources/reference/park_table1.csv", keep_default_na=False)
ROLES = {"transformer": "T", "mamba": "M", "s4": "S", "rwkv": "R"}
TRAIN, EVAL, WINDOW = 41, 100, 10


def curve(name, inside, beyond=None, kind="model"):
    """A flat curve: ``inside`` for k < TRAIN, ``beyond`` after (default the same)."""
    beyond = inside if beyond is None else beyond
    return [dict(kind=kind, name=name, label=name, k=k, normalized_mean=inside if k < TRAIN else beyond)
            for k in range(EVAL)]


def g_tasks(tmp_path, rows, registry="linear_regression", eval_points=EVAL):
    path = tmp_path / f"{registry}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    models = sorted({r["name"] for r in rows if r["kind"] == "model"})
    return {registry: {"instance": registry, "models": models, "train_points": TRAIN, "eval_points": eval_points,
                       "labels": {m: m for m in models}, "curves": str(path)}}


def verdict_of(claims, cid):
    return next(c for c in claims if c.id == cid).verdict


def test_window_error_reads_the_last_positions_up_to_the_training_length():
    df = pd.DataFrame([dict(kind="model", name="M", label="M", k=k, normalized_mean=float(k)) for k in range(50)])
    assert window_error(df, "M", TRAIN - 1, WINDOW) == pytest.approx(np.mean(range(31, 41)))
    assert window_error(df, "M", None, WINDOW) == pytest.approx(np.mean(range(40, 50)))
    assert np.isnan(window_error(df, "M", 60, WINDOW)) and np.isnan(window_error(df, "X", 10, WINDOW))


@pytest.mark.parametrize("mamba, transformer, expected", [
    (0.10, 0.10, "reproduced"),       # equal
    (0.14, 0.10, "reproduced"),       # within the 0.05 absolute tolerance
    (0.30, 0.10, "not reproduced"),   # clearly worse
    (0.30, 0.90, "not tested"),       # the Transformer did not learn: nothing to match
])
def test_g1_mamba_matches_the_transformer(tmp_path, mamba, transformer, expected):
    tasks = g_tasks(tmp_path, curve("M", mamba) + curve("T", transformer))
    assert verdict_of(g_compare_claims(tasks, ROLES, RULE, WINDOW), "G1/linear_regression") == expected


@pytest.mark.parametrize("cid, other", [("G2", "S"), ("G3", "R")])
@pytest.mark.parametrize("mamba, err, expected", [(0.1, 0.3, "reproduced"), (0.3, 0.1, "not reproduced"),
                                                  (0.9, 0.95, "not tested")])
def test_g2_g3_mamba_outperforms_s4_and_rwkv(tmp_path, cid, other, mamba, err, expected):
    tasks = g_tasks(tmp_path, curve("M", mamba) + curve("T", 0.1) + curve(other, err))
    assert verdict_of(g_compare_claims(tasks, ROLES, RULE, WINDOW), f"{cid}/linear_regression") == expected


def test_g_claims_name_the_missing_runs(tmp_path):
    claims = g_compare_claims(g_tasks(tmp_path, curve("M", 0.1) + curve("T", 0.1)), ROLES, RULE, WINDOW)
    s4 = next(c for c in claims if c.id == "G2/linear_regression")
    assert s4.verdict == "not tested" and "s4 (model S)" in s4.missing
    relu = next(c for c in claims if c.id == "G1/relu_nn")
    assert relu.verdict == "not tested" and "relu_nn" in relu.missing


@pytest.mark.parametrize("mamba_beyond, transformer_beyond, eval_points, expected", [
    (0.2, 0.5, EVAL, "reproduced"), (0.9, 0.2, EVAL, "not reproduced"), (0.2, 0.5, TRAIN, "not tested")])
def test_g4_beyond_the_training_length(tmp_path, mamba_beyond, transformer_beyond, eval_points, expected):
    tasks = g_tasks(tmp_path, curve("M", 0.1, mamba_beyond) + curve("T", 0.1, transformer_beyond),
                    eval_points=eval_points)
    assert verdict_of(g_compare_claims(tasks, ROLES, RULE, WINDOW), "G4/linear_regression") == expected


def probe(mamba_mse, transformer_mse):
    rows = []
    for model, mses in (("M", mamba_mse), ("T", transformer_mse)):
        for i, m in enumerate(mses):
            rows.append(dict(task="lr", model=model, relative_depth=i / (len(mses) - 1), probe_mse=m))
    return pd.DataFrame(rows)


@pytest.mark.parametrize("mamba, learned, expected", [
    ([5, 4, 2, 1], 0.1, "reproduced"), ([1, 2, 4, 5], 0.1, "not reproduced"), ([5, 4, 2, 1], 0.95, "not tested")])
def test_g5_probe_error_falls_with_depth(mamba, learned, expected):
    claims = g5_probing_claims(probe(mamba, [6, 3, 2, 1]), ROLES, RULE, {"lr": {"mamba": learned, "transformer": 0.1}})
    assert verdict_of(claims, "G5/lr") == expected
    assert g5_probing_claims(None, ROLES, RULE)[0].verdict == "not tested"


SIZES = {"mamba_130m": 0.13, "mamba_370m": 0.37, "mamba_2.8b": 2.8, "rwkv4_pile_169m": 0.169, "llama_7b": 7.0}


@pytest.mark.parametrize("acc, expected", [
    ({"mamba_130m": 0.3, "mamba_370m": 0.4, "mamba_2.8b": 0.6, "rwkv4_pile_169m": 0.2, "llama_7b": 0.61},
     ["reproduced"] * 3),
    ({"mamba_130m": 0.6, "mamba_370m": 0.4, "mamba_2.8b": 0.3, "rwkv4_pile_169m": 0.7, "llama_7b": 0.5},
     ["not reproduced"] * 3),
    ({}, ["not tested"] * 3)])
def test_g6_nlp_claims(acc, expected):
    assert [c.verdict for c in g6_nlp_claims(acc, SIZES, RULE)] == expected


def scaling(mamba_exp, gpt2_exp):
    lengths = [256, 512, 1024, 2048]
    return pd.DataFrame([dict(backbone=b, length=n, seconds=1e-6 * n ** e) for b, e in
                         (("mamba", mamba_exp), ("gpt2", gpt2_exp)) for n in lengths])


@pytest.mark.parametrize("mamba_exp, gpt2_exp, expected", [(1.0, 1.8, "reproduced"), (1.9, 1.8, "not reproduced"),
                                                           (1.0, 0.9, "not reproduced")])
def test_g7_forward_cost(mamba_exp, gpt2_exp, expected):
    assert g7_scaling_claim(scaling(mamba_exp, gpt2_exp), RULE).verdict == expected
    assert g7_scaling_claim(None, RULE).verdict == "not tested"


def verdicts(cells: dict[tuple[str, str], tuple[str, float]]) -> pd.DataFrame:
    return pd.DataFrame([dict(task=row, published_task=row, model=col, column=col, verdict=v, score=s,
                              extension=False) for (row, col), (v, s) in cells.items()])


PUBLISHED_CELLS = {(r.task, r.model): (r.verdict, 0.1 if r.verdict == "on_par" else 0.5) for r in PUBLISHED.itertuples()}


def test_park_claims_all_reproduced_when_our_table_equals_the_published_one():
    claims = park_claims(verdicts(PUBLISHED_CELLS), PUBLISHED)
    assert len([c for c in claims if c.id.startswith("P6/")]) == len(PUBLISHED) == 27
    assert {c.id: c.verdict for c in claims if c.id != "P7"} == {c.id: "reproduced" for c in claims if c.id != "P7"}
    assert verdict_of(claims, "P7") == "not tested"


@pytest.mark.parametrize("cell, value, failing", [
    (("sparse_linear_regression", "mamba"), ("gap", 0.3), "P1"),
    (("sparse_parity", "transformer"), ("on_par", 0.99), "P2"),
    (("vector_valued_mqar", "mamba"), ("on_par", 0.1), "P3"),
    (("decision_tree", "mamba"), ("on_par", 0.1), "P4"),
    (("relu_2nn_regression", "mambaformer"), ("gap", 0.3), "P5")])
def test_each_park_claim_can_fail(cell, value, failing):
    claims = park_claims(verdicts({**PUBLISHED_CELLS, cell: value}), PUBLISHED)
    assert verdict_of(claims, failing) == "not reproduced"
    assert verdict_of(claims, f"P6/{cell[0]}/{cell[1]}") == "not reproduced"


def test_a_row_where_no_model_learned_tests_nothing():
    cells = {**PUBLISHED_CELLS, **{("sparse_parity", c): ("fails", 0.5) for c in ("transformer", "mamba", "mambaformer")}}
    claims = park_claims(verdicts(cells), PUBLISHED)
    assert verdict_of(claims, "P2") == "not tested" and verdict_of(claims, "P6/sparse_parity/mamba") == "not tested"
    assert verdict_of(park_claims(None, PUBLISHED), "P1") == "not tested"


def test_verdicts_follow_parks_protocol():
    """At the training length, against Park's models and the baselines: a Grazzi model's better curve and the
    extrapolated positions change nothing."""
    rows = curve("park_mamba", 0.30, beyond=2.0) + curve("grazzi_mamba", 0.01) + curve("ls", 0.28, kind="baseline")
    df = pd.DataFrame(rows)
    rule = {"fails_at": 0.8, "on_par_abs": 0.05, "on_par_rel": 0.2}
    ours = task_verdicts("regression", df, rule, WINDOW, train_points=TRAIN, reference_models={"park_mamba"})
    r = ours[ours.name == "park_mamba"].iloc[0]
    assert r.verdict == "on_par" and r.score == pytest.approx(0.30) and r.best_reference == pytest.approx(0.28)
    old = task_verdicts("regression", df, rule, WINDOW)  # every model, window at the end: fails
    assert old[old.name == "park_mamba"].iloc[0].verdict == "fails"


def test_the_job_writes_every_claim_and_the_section_renders(tmp_path):
    tasks = g_tasks(tmp_path, curve("M", 0.1) + curve("T", 0.1) + curve("S", 0.5) + curve("R", 0.3, 0.2))
    scaling_csv, out = tmp_path / "scaling.csv", tmp_path / "claims.csv"
    scaling(1.0, 1.8).to_csv(scaling_csv, index=False)
    inputs = {"roles": ROLES, "g_tasks": tasks, "scaling": str(scaling_csv)}
    claims_job(inputs, {}, WINDOW, "workflow/resources/reference/park_table1.csv", str(out))
    df = pd.read_csv(out, keep_default_na=False)
    assert {"G1/linear_regression", "G4/decision_tree", "G5", "G6/rwkv", "G7", "P1", "P7"} <= set(df.id)
    assert df[df.id == "G1/linear_regression"].verdict.item() == "reproduced"
    assert df[df.id == "G2/linear_regression"].verdict.item() == "reproduced"
    assert df[df.id.str.startswith("P6/")].shape[0] == 27
    counts = claim_counts(df)
    assert int(counts["ClaimsReproduced"]) + int(counts["ClaimsNotReproduced"]) + int(counts["ClaimsNotTested"]) \
        == int(counts["ClaimsTotal"]) == len(df)
    tex = claims_section_tex(df)
    assert r"\label{sec:claims}" in tex and r"\ref{fig:errors-linear-regression}" in tex
    assert "Claims not reproduced" not in tex  # nothing failed here
    df.loc[df.id == "G7", "verdict"] = "not reproduced"
    assert r"\texttt{G7}}: Mamba's forward cost" in claims_section_tex(df)


def test_roles_default_from_the_config_and_can_be_overridden():
    smoke = validate(load_yaml("workflow/config/smoke.yaml"))
    roles = claim_roles(smoke)
    assert roles == {"transformer": "transformer", "mamba": "mamba", "s4": "s4", "rwkv": "rwkv"}
    assert claim_tasks(smoke, roles)["linear_regression"]["instance"] == "linear_regression"
    cpu = validate(load_yaml("workflow/config/cpu.yaml"))
    assert claim_roles(cpu)["transformer"] == "transformer_pe"  # no no-PE Transformer there: the learned-PE one
    smoke["report"]["claims"] = {"models": {"s4": "s4_park"}}
    assert claim_roles(validate(smoke))["s4"] == "s4_park"
    smoke["report"]["claims"] = {"models": {"s44": "s4"}}
    with pytest.raises(ConfigError, match="'report.claims.models.s44': unknown role"):
        validate(smoke)
