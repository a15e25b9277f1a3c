"""Reference numbers in the paper: each shows where it comes from, none is called published unless the
paper's text prints it, and the comparison table keeps only the rows this run can compare."""

import numpy as np
import pandas as pd
import pytest

from mambaicl.report.reference import (SOURCE_KINDS, reference_comparison_job, reference_rows, source_kind,
                                       table_reference_job)

REF = "workflow/resources/reference"


def _curve(kind, name, label, ks, value=0.1):
    return pd.DataFrame({"kind": kind, "name": name, "label": label, "k": list(ks), "normalized_mean": value,
                         "normalized_ci_low": value * 0.9, "normalized_ci_high": value * 1.1})


@pytest.fixture
def comparison(repo, tmp_path):
    """The real reference files against synthetic d = 20 linear-regression curves (k = 0..100) and d = 5
    sparse-LR curves."""
    lr = pd.concat([_curve("model", "mamba", "Mamba", range(101)),
                    _curve("model", "transformer", "Transformer (no PE)", range(101)),
                    _curve("baseline", "least_squares", "Least squares", range(101), 3298.0),
                    _curve("baseline", "averaging", "Averaging", range(101))])
    sp = _curve("model", "mamba", "Mamba", range(41))
    lr.to_csv(tmp_path / "lr.csv", index=False)
    sp.to_csv(tmp_path / "sp.csv", index=False)
    out = tmp_path / "cmp.csv"
    reference_comparison_job(repo / REF / "grazzi_simple_functions.csv", repo / REF / "baselines_analytic.csv",
                             {"lr/standard": tmp_path / "lr.csv", "sp/standard": tmp_path / "sp.csv"},
                             {"lr": 20, "sp": 5},
                             {"linear_regression/isotropic>isotropic": ["lr", "standard"],
                              "sparse_linear_regression/isotropic>isotropic": ["sp", "standard"]},
                             {"mamba": "mamba", "transformer_no_pe": "transformer"}, out)
    return out


def test_every_reference_row_knows_its_source(repo):
    rows = reference_rows(repo / REF / "grazzi_simple_functions.csv", repo / REF / "baselines_analytic.csv")
    assert set(rows.source_kind) <= set(SOURCE_KINDS) and rows.source_kind.notna().all()
    assert (rows[rows.source == "grazzi_simple_functions"].source_kind == "visual_reading").all()
    assert source_kind("baselines_analytic", "Garg et al. release baseline code, run on CPU") == "release_code"
    assert source_kind("baselines_analytic", "G result files") == "release_file"
    assert "paper" not in SOURCE_KINDS["visual_reading"][0]


def test_comparison_table_keeps_comparable_rows_with_their_source_and_summarises_the_rest(comparison, tmp_path):
    df = pd.read_csv(comparison)
    out = tmp_path / "t.tex"
    table_reference_job(comparison, out, ["transformer", "mamba"], ci=0.9)
    tex = out.read_text()
    n_cmp = int((df.status == "compared").sum())
    assert 0 < n_cmp < len(df)
    body = [ln for ln in tex.split(r"\endhead")[1].splitlines() if ln.endswith(r"\\")]
    assert len(body) == n_cmp  # only the compared rows
    assert f"sets the {n_cmp} comparable numbers beside ours. Of the {len(df)} reference numbers with a position, " \
        f"{len(df) - n_cmp} are left out: " in tex
    assert "other dimension" in tex and "not run in this configuration" in tex
    assert "published" not in tex.lower()
    assert " & reading & " in tex and " & release code & " in tex  # each row's source, legend in the caption
    assert SOURCE_KINDS["visual_reading"][1] in tex and SOURCE_KINDS["release_code"][1] in tex
    assert "transformer_no_pe" not in tex and "knn" not in tex  # labels, not raw ids
    assert r"Least squares$^\ddagger$ & 20 & $\approx$0 & reading & 3298\,$\pm$\,330 \\" in tex
    assert r"$\ddagger$: least squares at $k = d$" in tex
    models = [ln.split(" & ")[2] for ln in body]
    first_ls = models.index("Least squares")
    models = [m.replace(r"$^\ddagger$", "") for m in models]
    assert models[:first_ls] == sorted(models[:first_ls], key=["Transformer (no PE)", "Mamba"].index)
    ks = [int(ln.split(" & ")[3]) for ln in body if ln.split(" & ")[2] == "Mamba"]
    assert ks == sorted(ks)
    assert r"0.100\,$\pm$\,0.010" in tex


def test_comparison_without_comparable_rows_is_one_sentence(comparison, tmp_path):
    df = pd.read_csv(comparison)
    df["status"] = np.where(df.status == "compared", "not comparable (d = 5)", df.status)
    df.to_csv(tmp_path / "none.csv", index=False)
    table_reference_job(tmp_path / "none.csv", tmp_path / "t.tex")
    tex = (tmp_path / "t.tex").read_text()
    assert "longtable" not in tex and r"\ref" not in tex  # no table to refer to
    assert f"None of the {len(df)} reference numbers with a position is comparable in this run: " in tex


def test_verdict_table_marks_each_park_cells_status(repo, tmp_path):
    from mambaicl.report.tables import table_verdicts_job

    rows = [  # (our task, Park's row, our model, Park's column, verdict, Park's verdict)
        ("lr", "linear_regression", "mamba", "mamba", "on_par", "on_par"),  # corroborated
        ("lr", "linear_regression", "transformer", "transformer", "on_par", "on_par"),
        ("tree", "decision_tree", "mamba", "mamba", "gap", "gap"),  # partially corroborated
        ("cot", "chain_of_thought_io", "mamba", "mamba", "on_par", "on_par"),  # unverified
        ("ortho_even", "orthogonal_outlier_regression", "mamba", "mamba", "on_par", ""),  # our extension row
    ]
    df = pd.DataFrame([dict(task=t, published_task=p, model=m, column=c, rule="window", score=0.01234,
                            best_reference="least_squares", trivial=False, verdict=v, published=pub,
                            extension=(pub == "")) for t, p, m, c, v, pub in rows])
    df.to_csv(tmp_path / "v.csv", index=False)
    table_verdicts_job(tmp_path / "v.csv", {}, {"mamba": "Mamba", "transformer": "Transformer"}, tmp_path / "v.tex",
                       repo / REF / "park_table1.csv", ["transformer", "mamba"])
    tex = (tmp_path / "v.tex").read_text()
    lines = {ln.split(" & ")[0]: ln for ln in tex.splitlines() if " & " in ln}
    assert lines["lr"].endswith(r"\checkmark (0.0123) / \checkmark \\")  # corroborated: no mark
    assert r"/ $\blacktriangle$$^\dagger$" in lines["tree"] and r"/ \checkmark$^\ddagger$" in lines["cot"]
    assert r"$\dagger$: only the direction is corroborated" in tex and r"$\ddagger$: unverified" in tex
    assert "n/a: no cell" in tex and "--: the model is not run" in tex
    assert "published" not in tex.lower()
    assert tex.index("Transformer") < tex.index("Mamba")  # the config's model order


def test_param_count_table_marks_each_reference_counts_origin(repo, tmp_path):
    from mambaicl.report.tables import PARAM_STATUS, table_param_counts_job

    counts = pd.DataFrame([
        dict(model="t", label="Transformer", backbone="gpt2_no_pe", d_model=256, n_layer=12, token_dim=20,
             params=9483265, published=9483265, published_source="grazzi: standard (8 heads)"),
        dict(model="h", label="Hybrid", backbone="standard_hybrid", d_model=128, n_layer=4, token_dim=20,
             params=382081, published=382081, published_source="park: n_layer 4 at 128"),
        dict(model="r", label="RWKV", backbone="rwkv4", d_model=64, n_layer=2, token_dim=20, params=1000,
             published=None, published_source=None)])
    counts.to_csv(tmp_path / "c.csv", index=False)
    table_param_counts_job(tmp_path / "c.csv", tmp_path / "p.tex", repo / REF / "param_counts.csv")
    tex = (tmp_path / "p.tex").read_text()
    assert r"9,483,265 & 9,483,265\textsuperscript{f} \\" in tex
    assert r"382,081\textsuperscript{r} \\" in tex and r"& 1,000 & -- \\" in tex
    assert PARAM_STATUS["derived"][1] in tex and PARAM_STATUS["computed_from_release"][1] in tex
    assert "--: the reference files give no count" in tex and "published" not in tex.lower()


def test_at_another_scale_only_the_baselines_are_compared(comparison, tmp_path):
    df = pd.read_csv(comparison)
    table_reference_job(comparison, tmp_path / "t.tex", ["transformer", "mamba"], ci=0.9, scale="cpu")
    tex = (tmp_path / "t.tex").read_text()
    n_models = int(((df.status == "compared") & (df.ours_kind == "model")).sum())
    assert n_models > 0 and " & Mamba & " not in tex and " & Least squares & " in tex
    assert f"{n_models} because the reference models were trained at the papers' scale" in tex
