"""Macro names, macros files and tables rendered from metrics."""

import pandas as pd
import pytest

from mambaicl.report.latex import error_table_tex, errors_at_k, macro_name, macros_tex, number_words, parse_macros


@pytest.mark.parametrize("n,words", [(0, "Zero"), (7, "Seven"), (15, "Fifteen"), (40, "Forty"),
                                     (199, "OneHundredNinetyNine"), (2000, "TwoThousand")])
def test_number_words(n, words):
    assert number_words(n) == words


def test_macro_names_are_letters_only_and_distinct():
    a = macro_name("err", "linear_regression", "transformer", "k", 10)
    b = macro_name("err", "linear_regression", "transformer", "k", 1)
    assert a == "ErrLinearRegressionTransformerKTen" and a.isalpha() and a != b
    assert macro_name("mamba2", "seed12") == "MambaTwoSeedTwelve"


def test_macros_roundtrip_and_escape():
    text = macros_tex({"Platform": "x86_64 Linux", "Err": "0.123"})
    assert r"\newcommand{\Platform}{x86\_64 Linux}" in text
    assert parse_macros(text) == {"Platform": r"x86\_64 Linux", "Err": "0.123"}


def test_error_table_has_one_row_per_curve_and_the_values():
    curves = pd.DataFrame({
        "kind": ["model"] * 3 + ["baseline"] * 3,
        "label": ["Transformer"] * 3 + ["Least squares"] * 3,
        "k": [0, 1, 2] * 2,
        "normalized_mean": [1.0, 0.5, 0.25, 1.0, 0.0, 0.0],
    })
    wide = errors_at_k(curves, [1, 2, 5])
    assert wide.loc[("model", "Transformer"), 2] == 0.25
    tex = error_table_tex(curves, [1, 2, 5], "cap", "tab:x")
    assert r"Transformer & 0.500 & 0.250 & -- \\" in tex
    assert r"Least squares & 0.000 & 0.000 & -- \\" in tex
    assert tex.index("Transformer") < tex.index(r"\midrule", tex.index("Transformer"))


@pytest.mark.parametrize("seconds,text", [(42, "42 s"), (210, "3.5 min"), (7.2 * 3600, "7.2 h"), (2.1 * 86400, "2.1 d")])
def test_format_duration(seconds, text):
    from mambaicl.report.latex import format_duration

    assert format_duration(seconds) == text


def test_results_section_states_each_tasks_generator_options(tmp_path):
    from mambaicl.report.labels import options_text
    from mambaicl.report.sections import results_section_job

    spec = {"name": "ortho_outlier_regression", "n_dims": 20, "reference_weight": "fresh"}
    assert options_text(spec) == "n_dims = 20, reference_weight = fresh"
    out = tmp_path / "tasks.tex"
    results_section_job(["ortho_fresh"], {"ortho_fresh": "Outliers"}, {"ortho_fresh": options_text(spec)}, out)
    text = out.read_text()
    assert r"\texttt{n\_dims = 20, reference\_weight = fresh}" in text
    assert r"\includegraphics[width=0.7\linewidth]{generated/figures/error_curves_ortho_fresh.pdf}" in text
    assert r"\input{generated/tables/errors_ortho_fresh.tex}" in text


def test_training_table_states_each_groups_recipe(repo, tmp_path):
    from mambaicl.config import load_yaml
    from mambaicl.report.tables import training_table_job
    from mambaicl.validation import validate

    cfg = validate(load_yaml(repo / "workflow/config/paper.yaml"))
    out = tmp_path / "training.tex"
    training_table_job(cfg, out)
    rows = [ln for ln in out.read_text().splitlines() if ln.endswith(r"\\") and " & " in ln][1:]
    mqar = next(r for r in rows if r.startswith("mqar"))
    assert "constant & 0.0002 & 100 &" in mqar  # Park: MQAR at 2e-4, clip 100
    s4 = next(r for r in rows if r.startswith(r"linear\_regression & S4 &"))
    assert "cosine & 0.001 & -- & 500,001" in s4  # Grazzi: S4 at 1e-3, cosine, no clipping
    assert any(r.startswith(r"many\_outlier\_regression") and "1,000,001" in r for r in rows)
