"""Park et al.'s claims (spec 12, P1-P7) from our Table 1 verdicts (``metrics/verdicts.csv``, judged at the
training length on Park's own runs, ``analysis.verdicts``), and the claims ledger's job.

Each Table 1 cell is its own line (P6): our verdict equals the reference one (Table 1 as reconstructed from
Park's abstract and secondary sources: the paper's text was not available; each cell's status is stated). A row where no model learned
(every verdict "fails") while the published row has a model that learns cannot test anything at this scale,
so its cells and the claims that read it are "not tested". Extension rows (e.g. the corrected
orthogonal-outlier construction) are reported by the verdicts table but are not Table 1 cells.
"""

from __future__ import annotations

import pandas as pd

from .claims import (DEFAULT_CLAIMS_RULE, G_TASKS, Claim, fmt, g5_probing_claims, g6_nlp_claims,
                     g7_scaling_claim, g_compare_claims, write_claims)
from .chance import relative_error, trivial_regression_error, window_error

ROWS = {"linear_regression": "linear regression", "sparse_linear_regression": "sparse linear regression",
        "relu_2nn_regression": "2-layer ReLU networks", "decision_tree": "decision trees",
        "orthogonal_outlier_regression": "orthogonal-outlier regression",
        "many_outlier_regression": "many-outlier regression", "sparse_parity": "sparse parity",
        "vector_valued_mqar": "vector-valued MQAR", "chain_of_thought_io": "chain-of-thought I/O"}
SYMBOL = {"on_par": "on par", "gap": "gap", "fails": "fails"}


def _cells(verdicts: pd.DataFrame) -> dict[tuple[str, str], pd.Series]:
    """(published row, column) -> the first of our verdict rows for that cell (extension rows left out)."""
    v = verdicts[~verdicts.get("extension", pd.Series(False, index=verdicts.index)).astype(bool)]
    out = {}
    for r in v.itertuples(index=False):
        out.setdefault((r.published_task, r.column), pd.Series(r._asdict()))
    return out


def _untrained_rows(verdicts: pd.DataFrame, published: pd.DataFrame) -> set[str]:
    """Published rows where every one of our models fails although the paper has one that learns."""
    out = set()
    for row, d in verdicts.groupby("published_task"):
        pub = published[published.task == row]
        if (d.verdict == "fails").all() and (pub.verdict != "fails").any():
            out.add(row)
    return out


def park_claims(verdicts: pd.DataFrame | None, published: pd.DataFrame) -> list[Claim]:
    p6 = [Claim(f"P6/{r.task}/{r.model}", "Park", f"Table 1, {ROWS.get(r.task, r.task)}, {r.model}: "
                f"{SYMBOL.get(r.verdict, r.verdict)}.", "our verdict (rule in the text) equals the reference verdict (Table 1 as "
                "reconstructed from the abstract and secondary sources; each cell's status given)",
                evidence="tab:verdicts") for r in published.itertuples()]
    specs = [("P1", "SSMs match Transformers on standard regression (linear, sparse linear, ReLU networks).",
              "Mamba on par on the linear, sparse linear and ReLU-network rows"),
             ("P2", "Mamba outperforms the Transformer on sparse parity, where the Transformer fails.",
              "sparse parity: Mamba on par, the Transformer fails"),
             ("P3", "Mamba fails vector-valued MQAR; the Transformer succeeds.",
              "vector-valued MQAR: Mamba fails, the Transformer on par"),
             ("P4", "Mamba shows a gap on decision trees and orthogonal outliers and beats the Transformer on "
                    "many-outlier regression.",
              "Mamba not on par on the decision-tree and orthogonal-outlier rows; its many-outlier score below "
              "the Transformer's"),
             ("P5", "MambaFormer is on par wherever either single model is.",
              "on every row where the Transformer or Mamba is on par, MambaFormer is on par too")]
    others = [Claim(cid, "Park", text, crit, evidence="tab:verdicts") for cid, text, crit in specs]
    p7 = Claim("P7", "Park", "The comparisons hold across model sizes at matched training FLOPs (Fig. 2).",
               "the verdicts at every size of a size sweep").untested("no model-size sweep is configured "
                                                                     "(Park's Fig. 2 runs)")
    if verdicts is None or verdicts.empty:
        for c in p6 + others:
            c.untested("Park's Table 1 is not configured (report.verdicts)")
        return others + [p7] + p6
    cells, untrained = _cells(verdicts), _untrained_rows(verdicts, published)

    def get(row, col):
        return cells.get((row, col))

    for c, pub in zip(p6, published.itertuples()):
        ours = get(pub.task, pub.model)
        if ours is None:
            c.untested(f"no run of Park's {pub.model} on a task instance mapped to this row")
        elif pub.task in untrained:
            c.untested("no model learned this task at this scale", f"ours {ours.verdict} ({fmt(ours.score)})")
        else:
            c.judge(ours.verdict == pub.verdict, f"ours {ours.verdict} ({fmt(ours.score)}), reference "
                                                 f"{pub.verdict} ({pub.status.replace('_', ' ')})")
            c.evidence = "tab:verdicts"

    def judge_rows(c: Claim, needed: list[tuple[str, str]], test) -> None:
        missing = [f"{col} on {row}" for row, col in needed if get(row, col) is None]
        if missing:
            c.untested("no verdict for " + ", ".join(missing))
            return
        rows = sorted({row for row, _ in needed} & untrained)
        measured = "; ".join(f"{col} {get(row, col).verdict} ({fmt(get(row, col).score)}) on {row}"
                             for row, col in needed)
        if rows:
            c.untested("no model learned " + ", ".join(rows) + " at this scale", measured)
            return
        c.judge(bool(test()), measured)

    p1, p2, p3, p4, p5 = others
    std = ["linear_regression", "sparse_linear_regression", "relu_2nn_regression"]
    judge_rows(p1, [(r, "mamba") for r in std], lambda: all(get(r, "mamba").verdict == "on_par" for r in std))
    judge_rows(p2, [("sparse_parity", "mamba"), ("sparse_parity", "transformer")],
               lambda: get("sparse_parity", "mamba").verdict == "on_par"
               and get("sparse_parity", "transformer").verdict == "fails")
    judge_rows(p3, [("vector_valued_mqar", "mamba"), ("vector_valued_mqar", "transformer")],
               lambda: get("vector_valued_mqar", "mamba").verdict == "fails"
               and get("vector_valued_mqar", "transformer").verdict == "on_par")
    gap_rows = ["decision_tree", "orthogonal_outlier_regression"]
    judge_rows(p4, [(r, "mamba") for r in gap_rows] + [("many_outlier_regression", "mamba"),
                                                        ("many_outlier_regression", "transformer")],
               lambda: all(get(r, "mamba").verdict != "on_par" for r in gap_rows)
               and get("many_outlier_regression", "mamba").score < get("many_outlier_regression", "transformer").score)
    rows5 = sorted({row for row, col in cells if col == "mambaformer"})
    needed5 = [(r, col) for r in rows5 for col in ("transformer", "mamba", "mambaformer") if get(r, col) is not None]
    if not rows5:
        p5.untested("no MambaFormer run on a Table 1 row")
    else:
        judge_rows(p5, needed5, lambda: all(
            get(r, "mambaformer").verdict == "on_par" for r in rows5
            if any(get(r, col) is not None and get(r, col).verdict == "on_par" for col in ("transformer", "mamba"))))
    return others + [p7] + p6


def _nlp_accuracy(summaries: dict[str, str]) -> dict[str, float]:
    """model -> mean 5-shot (ICL) accuracy over the tasks it answered (skipped tasks have none), as the NLP
    section's means."""
    from ..nlp.report import accuracy_wide  # here: the NLP report loads plotting libraries

    means = accuracy_wide(summaries, "icl").mean()
    return {m: float(v) for m, v in means.items() if pd.notna(v)}


def claims_job(inputs: dict, rule: dict, window: int, published_csv: str, out_csv: str) -> None:
    """``inputs`` (``config.claims_inputs``): roles, g_tasks, verdicts, probing, scaling, nlp summaries and sizes."""
    rule = {**DEFAULT_CLAIMS_RULE, **rule}
    roles, g_tasks = inputs["roles"], inputs["g_tasks"]
    claims = g_compare_claims(g_tasks, roles, rule, window)
    claims.sort(key=lambda c: (c.id.split("/")[0], G_TASKS.index(c.id.split("/")[1]) if "/" in c.id else 0))
    probe = pd.read_csv(inputs["probing"]) if inputs.get("probing") else None
    learned = {}
    for task, info in inputs.get("probe_tasks", {}).items():
        curves, t = pd.read_csv(info["curves"]), info["train_points"] - 1
        trivial = trivial_regression_error(curves, t, window)
        learned[task] = {r: relative_error(window_error(curves, roles[r], t, window), trivial)
                         for r in ("mamba", "transformer") if roles.get(r)}
    claims += g5_probing_claims(probe, roles, rule, learned)
    if inputs.get("nlp"):
        claims += g6_nlp_claims(_nlp_accuracy(inputs["nlp"]), inputs.get("nlp_sizes", {}), rule)
    else:
        claims += [c.untested("the NLP study is not configured (nlp)") for c in g6_nlp_claims({}, {}, rule)]
    claims.append(g7_scaling_claim(pd.read_csv(inputs["scaling"]) if inputs.get("scaling") else None, rule))
    verdicts = pd.read_csv(inputs["verdicts"], keep_default_na=False) if inputs.get("verdicts") else None
    claims += park_claims(verdicts, pd.read_csv(published_csv, keep_default_na=False))
    df = write_claims(claims, out_csv)
    counts = df.verdict.value_counts().to_dict()
    print(f"{len(df)} claims: {counts}")
