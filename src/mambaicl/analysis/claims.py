"""The claims ledger (spec 12): each claim of the two papers, a pre-registered criterion computed from our
measured curves and tables, and a verdict: reproduced, not reproduced, or not tested in this configuration
(naming what is missing). Grazzi et al.'s claims (G1-G7) are judged here; Park et al.'s (P1-P7, every
Table 1 cell) in ``claims_park``; ``claims_job`` writes both to ``metrics/claims.csv``.

Windows: "in distribution" is the mean normalised error over the last ``window`` positions up to the
training length (k = T - window .. T - 1, T the curriculum's final number of points); "beyond the training
length" is the same mean over the last ``window`` positions evaluated. A comparison between models is
testable only where the reference model learned the task (in-distribution error below ``learned_below``
times the task's trivial level, ``analysis.chance``: the better of the zero predictor and the averaging
baseline): two untrained models "matching" says nothing, so tiny runs report "not tested" rather than a
verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .chance import relative_error, trivial_regression_error, window_error  # noqa: F401 (window_error: re-export)

REPRODUCED, NOT_REPRODUCED, NOT_TESTED = "reproduced", "not reproduced", "not tested"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, NOT_TESTED)

DEFAULT_CLAIMS_RULE = {
    "learned_below": 0.8,      # a model learned a regression task if its in-distribution window error is below
                               # this fraction of the task's trivial level (analysis.chance)
    "match_abs": 0.05,         # "matches": within match_abs absolute or match_rel relative of the reference
    "match_rel": 0.2,
    "depth_rho": -0.7,         # G5: Spearman correlation of probe error with relative depth at most this
    "linear_slope_max": 1.25,  # G7: Mamba's log-log slope of forward time against length at most this
    "nlp_on_par_abs": 0.03,    # G6: "on par" within this absolute accuracy
    "nlp_size_rho": 0.8,       # G6: Spearman correlation of accuracy with size at least this
}
G_TASKS = ("linear_regression", "sparse_linear_regression", "relu_nn", "decision_tree")  # G1-G4
G_TASK_TITLES = {"linear_regression": "linear regression", "sparse_linear_regression": "sparse linear regression",
                 "relu_nn": "2-layer ReLU networks", "decision_tree": "decision trees"}


@dataclass
class Claim:
    id: str
    paper: str                 # "Grazzi" or "Park"
    claim: str                 # what the paper says
    criterion: str             # how we judge it, thresholds included
    verdict: str = NOT_TESTED
    measured: str = ""         # the numbers behind the verdict
    missing: str = ""          # for "not tested": what this configuration lacks
    evidence: str = ""         # LaTeX label of the figure or table that shows it ("" where none)
    extension: bool = False    # our extra line, not one of the papers' claims

    def judge(self, ok: bool, measured: str) -> "Claim":
        self.verdict, self.measured = (REPRODUCED if ok else NOT_REPRODUCED), measured
        return self

    def untested(self, missing: str, measured: str = "") -> "Claim":
        self.verdict, self.missing, self.measured = NOT_TESTED, missing, measured
        return self


def fmt(x: float) -> str:
    return "nan" if x is None or not np.isfinite(x) else f"{x:.3g}"


def matches(err: float, ref: float, rule: dict) -> bool:
    """``err`` is no worse than ``ref`` beyond match_abs absolute or match_rel relative."""
    return err <= ref + max(rule["match_abs"], rule["match_rel"] * ref)


def spearman(x, y) -> float:
    x, y = pd.Series(list(x), dtype=float), pd.Series(list(y), dtype=float)
    if len(x) < 2 or x.nunique() < 2 or y.nunique() < 2:
        return float("nan")
    return float(x.rank().corr(y.rank()))


def loglog_slope(lengths, seconds) -> float:
    """Least-squares slope of log(seconds) on log(length) over the longer half of the lengths."""
    df = pd.DataFrame({"n": lengths, "s": seconds}).groupby("n", as_index=False).s.median().sort_values("n")
    df = df[df.n >= df.n.median()] if len(df) > 2 else df
    if len(df) < 2:
        return float("nan")
    return float(np.polyfit(np.log(df.n.to_numpy(float)), np.log(df.s.to_numpy(float)), 1)[0])


# --- Grazzi et al. ------------------------------------------------------------------------------------------

def _task_runs(tasks: dict, registry: str, roles: dict, needed: tuple[str, ...]):
    """(info, curves DataFrame, missing text) for G's task ``registry``."""
    info = tasks.get(registry)
    if info is None:
        return None, None, f"no task instance of {registry} trains Grazzi's models"
    absent = [r for r in needed if roles.get(r) is None or roles[r] not in info["models"]]
    if absent:
        return info, None, "no run of " + ", ".join(
            f"Grazzi's {r}" + (f" (model {roles[r]})" if roles.get(r) else " (no such model configured)")
            for r in absent) + f" on {info['instance']}"
    return info, pd.read_csv(info["curves"]), ""


def g_compare_claims(tasks: dict, roles: dict, rule: dict, window: int) -> list[Claim]:
    """G1-G4, one line per task: Mamba against the Transformer, S4 and RWKV."""
    out = []
    learned = rule["learned_below"]
    specs = [("G1", "transformer", "Mamba closely matches the Transformer (no PE) in distribution",
              f"Mamba's in-distribution window error is at most the Transformer's plus max({rule['match_abs']:g}, "
              f"{100 * rule['match_rel']:g} % of it); tested where the Transformer learned (error < {learned:g} of the trivial level)"),
             ("G2", "s4", "Mamba outperforms S4",
              f"Mamba's in-distribution window error is below S4's; tested where either learned (error < {learned:g} of the trivial level)"),
             ("G3", "rwkv", "Mamba outperforms RWKV (our synthetic RWKV runs)",
              f"Mamba's in-distribution window error is below RWKV's; tested where either learned (error < {learned:g} of the trivial level)")]
    for cid, other, text, criterion in specs:
        for reg in G_TASKS:
            c = Claim(f"{cid}/{reg}", "Grazzi", f"{text} on {G_TASK_TITLES[reg]}.", criterion)
            info, curves, missing = _task_runs(tasks, reg, roles, ("mamba", other))
            if curves is None:
                out.append(c.untested(missing))
                continue
            c.evidence = f"fig:errors-{info['instance'].replace('_', '-')}"
            t = info["train_points"] - 1
            e_m, e_o = window_error(curves, roles["mamba"], t, window), window_error(curves, roles[other], t, window)
            trivial = trivial_regression_error(curves, t, window)
            measured = (f"Mamba {fmt(e_m)}, {info['labels'][roles[other]]} {fmt(e_o)} (k = {t - window + 1}-{t}; "
                        f"trivial level {fmt(trivial)})")
            if not (np.isfinite(e_m) and np.isfinite(e_o)):
                out.append(c.untested("a curve stops before the training length", measured))
            elif cid == "G1":
                out.append(c.untested("the Transformer did not learn the task at this scale", measured)
                           if relative_error(e_o, trivial) >= learned else c.judge(matches(e_m, e_o, rule), measured))
            elif relative_error(min(e_m, e_o), trivial) >= learned:
                out.append(c.untested("neither model learned the task at this scale", measured))
            else:
                out.append(c.judge(e_m < e_o, measured))
    for reg in G_TASKS:  # G4: beyond the training length
        c = Claim(f"G4/{reg}", "Grazzi", f"Mamba's in-context learning holds beyond the training length, compared with "
                  f"the Transformer, on {G_TASK_TITLES[reg]}.",
                  f"Mamba's window error at the last evaluated positions is at most the Transformer's plus "
                  f"max({rule['match_abs']:g}, {100 * rule['match_rel']:g} % of it); tested where both learned in "
                  f"distribution (error < {learned:g} of the trivial level) and the evaluation goes beyond the training length")
        info, curves, missing = _task_runs(tasks, reg, roles, ("mamba", "transformer"))
        if curves is None:
            out.append(c.untested(missing))
            continue
        c.evidence = f"fig:errors-{info['instance'].replace('_', '-')}"
        if info["eval_points"] <= info["train_points"]:
            out.append(c.untested(f"{info['instance']} is evaluated only up to its training length"))
            continue
        t = info["train_points"] - 1
        ins = [window_error(curves, roles[r], t, window) for r in ("mamba", "transformer")]
        ext = [window_error(curves, roles[r], None, window) for r in ("mamba", "transformer")]
        trivial = trivial_regression_error(curves, t, window)
        measured = (f"Mamba {fmt(ext[0])}, Transformer {fmt(ext[1])} at the last {window} positions "
                    f"(in distribution {fmt(ins[0])}, {fmt(ins[1])}; trivial level {fmt(trivial)})")
        if not all(np.isfinite(ins + ext)) or relative_error(max(ins), trivial) >= learned:
            out.append(c.untested("a model did not learn the task in distribution at this scale", measured))
        else:
            out.append(c.judge(matches(ext[0], ext[1], rule), measured))
    return out


def g5_probing_claims(probe: pd.DataFrame | None, roles: dict, rule: dict,
                      learned: dict[str, dict[str, float]] | None = None) -> list[Claim]:
    """G5 per probed task: probe error falls with relative depth for Mamba and for the Transformer.
    ``learned``: probed task -> role -> in-distribution window error relative to the task's trivial level; a
    task where either model did not learn (at least learned_below) is not tested (a probe of an untrained
    model shows no refinement)."""
    text = "Mamba, like the Transformer, refines its estimate across layers: probe error falls with depth"
    crit = (f"Spearman correlation of the probe MSE with relative depth at most {rule['depth_rho']:g}, and the last "
            "layer's probe MSE below the first's, for both models (the GD/GD++ range is shown, not judged)")
    if probe is None or probe.empty:
        return [Claim("G5", "Grazzi", text + ".", crit).untested("no probing in this configuration")]
    out = []
    for task, d in probe.groupby("task", sort=False):
        c = Claim(f"G5/{task}", "Grazzi", f"{text} ({task.replace('_', ' ')}).", crit, evidence="fig:probe-mse")
        rows = {r: d[d.model == roles.get(r)].sort_values("relative_depth") for r in ("mamba", "transformer")}
        if any(v.empty for v in rows.values()):
            out.append(c.untested(f"Mamba and the Transformer are not both probed on {task}"))
            continue
        errs = (learned or {}).get(task, {})
        if any(not np.isfinite(errs.get(r, np.nan)) or errs[r] >= rule["learned_below"] for r in rows):
            out.append(c.untested("Mamba or the Transformer did not learn this task at this scale",
                                  ", ".join(f"{r} {fmt(errs.get(r, np.nan))}" for r in rows)))
            continue
        parts, ok = [], True
        for r, v in rows.items():
            rho = spearman(v.relative_depth, v.probe_mse)
            first, last = float(v.probe_mse.iloc[0]), float(v.probe_mse.iloc[-1])
            ok &= bool(np.isfinite(rho) and rho <= rule["depth_rho"] and last < first)
            parts.append(f"{r}: rho {fmt(rho)}, MSE {fmt(first)} -> {fmt(last)}")
        out.append(c.judge(ok, "; ".join(parts)))
    return out


def g7_scaling_claim(scaling: pd.DataFrame | None, rule: dict) -> Claim:
    c = Claim("G7", "Grazzi", "Mamba's forward cost grows linearly with sequence length, the Transformer's faster.",
              f"log-log slope of forward time against length (longer half of the lengths): Mamba's at most "
              f"{rule['linear_slope_max']:g} and below the Transformer's", evidence="fig:forward-scaling")
    if scaling is None or not {"gpt2", "mamba"} <= set(scaling.backbone):
        return c.untested("no forward-cost measurement of both gpt2 and mamba", "")
    s = {b: loglog_slope(d.length, d.seconds) for b, d in scaling.groupby("backbone") if b in ("gpt2", "mamba")}
    measured = f"slope Mamba {fmt(s['mamba'])}, Transformer {fmt(s['gpt2'])}"
    if not all(np.isfinite(list(s.values()))):
        return c.untested("fewer than two sequence lengths measured", measured)
    return c.judge(s["mamba"] <= rule["linear_slope_max"] and s["mamba"] < s["gpt2"], measured)


def g6_nlp_claims(acc: dict[str, float], sizes: dict[str, float], rule: dict) -> list[Claim]:
    """G6 from each NLP model's mean 5-shot accuracy over the tasks it answered (``acc``: model -> mean)."""
    tol, rho_min = rule["nlp_on_par_abs"], rule["nlp_size_rho"]
    a = Claim("G6/size", "Grazzi", "NLP: in-context accuracy rises with model size (Mamba family).",
              f"Spearman correlation of accuracy with size at least {rho_min:g} over the configured Mamba sizes",
              evidence="fig:nlp-box")
    mambas = [m for m in acc if m.startswith("mamba_") and not m.endswith("slimpj") and m in sizes]
    if len(mambas) < 3:
        a.untested("fewer than three pretrained Mamba sizes are evaluated (nlp.models)")
    else:
        rho = spearman([sizes[m] for m in mambas], [acc[m] for m in mambas])
        a.judge(np.isfinite(rho) and rho >= rho_min, f"rho {fmt(rho)} over {len(mambas)} sizes")
    b = Claim("G6/mamba-2.8b", "Grazzi", "NLP: Mamba 2.8B is on par with LLaMA 7B, Pythia and GPT-J.",
              f"Mamba 2.8B's accuracy at least each of theirs minus {tol:g}", evidence="fig:nlp-box")
    others = [m for m in ("llama_7b", "pythia_6.9b", "gptj_6b") if m in acc]
    if "mamba_2.8b" not in acc or not others:
        b.untested("Mamba 2.8B and at least one of LLaMA 7B, Pythia 6.9B, GPT-J 6B are not all evaluated")
    else:
        b.judge(all(acc["mamba_2.8b"] >= acc[m] - tol for m in others),
                f"Mamba 2.8B {fmt(acc['mamba_2.8b'])}; " + ", ".join(f"{m} {fmt(acc[m])}" for m in others))
    c = Claim("G6/rwkv", "Grazzi", "NLP: Mamba beats RWKV at every matched size.",
              "Mamba's accuracy above RWKV's for every evaluated pair of matched sizes", evidence="fig:nlp-box")
    pairs = [(m, r) for m, r in (("mamba_130m", "rwkv4_pile_169m"), ("mamba_370m", "rwkv4_pile_430m"),
                                 ("mamba_1.4b", "rwkv4_pile_1.5b"), ("mamba_2.8b", "rwkv4_pile_3b"))
             if m in acc and r in acc]
    if not pairs:
        c.untested("no matched pair of Mamba and RWKV sizes is evaluated")
    else:
        c.judge(all(acc[m] > acc[r] for m, r in pairs), "; ".join(f"{m} {fmt(acc[m])} vs {r} {fmt(acc[r])}"
                                                                 for m, r in pairs))
    return [a, b, c]


def write_claims(claims: list[Claim], out_csv: str) -> pd.DataFrame:
    df = pd.DataFrame([asdict(c) for c in claims], columns=[f for f in Claim.__dataclass_fields__])
    bad = set(df.verdict) - set(VERDICTS)
    if bad:
        raise ValueError(f"unknown verdicts {bad}")
    df.to_csv(out_csv, index=False)
    return df

