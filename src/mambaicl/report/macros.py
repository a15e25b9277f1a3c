"""The macros files: every number the paper text quotes, as a ``\\newcommand`` (``workflow/scripts/macros.py``,
``macros_probing.py``), and the report section's config checks."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import __version__
from ..analysis.gd_reference import plot_scale
from ..analysis.verdicts import DEFAULT_RULE
from ..config import spec_hash, suggest, task_spec
from ..errors import ConfigError
from ..tasks import task_from_spec
from ..training.checkpoints import load_checkpoint
from .labels import report_k_values, task_title
from .latex import format_duration, format_number, git_commit, macro_name, macros_tex


def check_config(config: dict) -> None:
    """``report.reference_models`` names configured models; ``report.k_values`` lie within every table."""
    for pub, m in config["report"].get("reference_models", {}).items():
        if m not in config["models"]:
            raise ConfigError(f"config error: 'report.reference_models.{pub}': no model '{m}' is configured"
                              f"{suggest(m, config['models'])}")
    max_k = max(t["eval_points"] for t in config["tasks"].values()) - 1  # tables show the k each task has
    for k in config["report"]["k_values"]:
        if k > max_k:
            raise ConfigError(f"config error: 'report.k_values' contains {k}, beyond the last evaluated position "
                              f"k = {max_k}")


def headline_macros(config: dict, curves: dict[str, str]) -> dict[str, str]:
    """The results section's opening sentence for any config: on the first task, the first trained model
    and the best baseline after the largest reported k that task evaluates."""
    task = next(iter(curves))
    df = pd.read_csv(curves[task])
    first_model = next(m for exp in config["experiments"] if exp["task"] == task for m in exp["models"])
    k = max(report_k_values(config["report"]["k_values"], df[df.name == first_model]))
    at_k = df[df.k == k]
    base = at_k[at_k.kind == "baseline"]
    model = at_k[at_k.name == first_model].iloc[0]
    out = {"HeadlineTask": task_title(task_spec(config, task), task), "HeadlineK": str(k),
           "HeadlineModel": model.label, "HeadlineModelErr": format_number(model.normalized_mean)}
    if not base.empty:
        best = base.loc[base.normalized_mean.idxmin()]
        out.update(HeadlineBaseline=best.label, HeadlineBaselineErr=format_number(best.normalized_mean))
    else:
        out.update(HeadlineBaseline="no baseline", HeadlineBaselineErr="--")
    return out


def macros_job(config: dict, curves: dict[str, str], models: dict[str, list[str]], out_tex: str) -> None:
    """Every number the paper text quotes, as a ``\\newcommand``. ``models`` maps "task/model" to checkpoints."""
    v: dict[str, str] = {}
    v["RunName"] = config["run_name"]
    v["RunScale"] = config["scale"]
    v["ConfigHash"] = spec_hash(config)
    v["GitCommit"] = git_commit(Path(__file__).resolve().parent)
    v["PackageVersion"] = __version__
    v["TorchVersion"] = torch.__version__
    v["PythonVersion"] = platform.python_version()
    v["TrainSteps"] = f"{config['train']['steps']:,}"
    v["BatchSize"] = str(config["train"]["batch_size"])
    v["NumSeeds"] = str(len(config["train"]["seeds"]))
    v["EvalPrompts"] = f"{config['evaluation']['n_prompts']:,}"
    v["BootstrapResamples"] = f"{config['evaluation']['bootstrap']['n_resamples']:,}"
    v["BootstrapCI"] = str(round(100 * config["evaluation"]["bootstrap"]["ci"]))
    devices = set()
    for task, t in config["tasks"].items():
        v[macro_name(task, "dims")] = str(task_from_spec(task_spec(config, task)).n_dims)
        v[macro_name(task, "train", "points")] = str(t["curriculum"]["points"]["end"])
        v[macro_name(task, "eval", "points")] = str(t["eval_points"])
        df = pd.read_csv(curves[task])
        for row in df[df.k.isin(report_k_values(config["report"]["k_values"], df))].itertuples():
            v[macro_name("err", task, row.name, "k", row.k)] = format_number(row.normalized_mean)
    for key, paths in models.items():
        task, model = key.split("/")
        states = [load_checkpoint(p) for p in paths]
        v[macro_name("params", task, model)] = f"{states[0]['effective_parameters']:,}"
        v[macro_name("train", "time", task, model)] = format_duration(np.mean([s["train_seconds"] for s in states]))
        devices.update(s["device"] for s in states)
    v.update(headline_macros(config, curves))
    v["ReportWindow"] = str(config["report"].get("window", 10))
    verdicts = config["report"].get("verdicts")
    if verdicts:
        rule = {**DEFAULT_RULE, **{k: x for k, x in verdicts.items() if k not in ("tasks", "models")}}
        v["VerdictFailsAt"] = f"{rule['fails_at']:g}"
        v["VerdictOnParAbs"] = f"{rule['on_par_abs']:g}"
        v["VerdictOnParRel"] = f"{100 * rule['on_par_rel']:g}"
        v["VerdictParityFailsAt"] = f"{rule['parity_fails_at']:g}"
        v["VerdictParityOnParAt"] = f"{rule['parity_on_par_at']:g}"
    v["TrainDevice"] = ", ".join(sorted(devices))
    v["Platform"] = platform.machine() + " " + platform.system()
    text = macros_tex(v)
    text += "\\newif\\ifTinyScale\n" + ("\\TinyScaletrue\n" if config["scale"] != "paper" else "")
    text += "\\newif\\ifVerdicts\n" + ("\\Verdictstrue\n" if verdicts else "")
    Path(out_tex).write_text(text)


def macros_probing_job(settings: dict, info: dict, summary_csv: str | None, gd_csv: str | None, out_tex: str) -> None:
    """Every probing number and list the paper quotes. ``info``: titles, models and skipped models per task."""
    s = settings
    v: dict[str, str] = {
        "ProbePrompts": str(s["n_prompts"]), "ProbePoints": str(s["n_points"]), "ProbeContext": str(s["n_context"]),
        "ProbeQueries": str(s["n_points"] - s["n_context"]),
        "ProbeFitFirst": str(s["fit_positions"]["start"] + 1), "ProbeFitLast": str(s["fit_positions"]["end"] + 1),
        "ProbeFitCount": str(s["fit_positions"]["end"] - s["fit_positions"]["start"] + 1),
        "ProbeBootstrap": f"{s['bootstrap']['n_resamples']:,}", "ProbeCI": str(round(100 * s["bootstrap"]["ci"])),
        "ProbeGdScale": s["gd_scale"], "ProbeGdIterations": str(s["gd_iterations"]),
        "ProbeGdLastIterate": str(s["gd_iterations"] - 1),
        "ProbeGammaMin": f"{s['gdpp']['gamma_min']:.0e}", "ProbeGammaMax": f"{s['gdpp']['gamma_max']:.0e}",
        "ProbeGammaCount": str(s["gdpp"]["n_gammas"]), "ProbeGammaSelectIteration": str(s["gdpp"]["select_iteration"]),
    }
    tasks = list(info["titles"])
    v["ProbeTasksText"] = "; ".join(
        f"{info['titles'][t]} ({', '.join(info['labels'][m] for m in info['models'][t])})" for t in tasks) or "none"
    skipped = [f"{info['labels'][m]} on {info['titles'][t]}" for t in tasks for m in info["skipped"][t]]
    v["ProbeSkippedText"] = ", ".join(skipped) if skipped else "none"
    v["ProbeDataText"] = "; ".join(f"{info['titles'][t]}: {info['data'][t]}" for t in tasks) or "none"
    if summary_csv:
        df = pd.read_csv(summary_csv)
        for (task, model), d in df.groupby(["task", "model"], sort=False):
            f = plot_scale(s["gd_scale"], int(d.n_dims.iloc[0]), "probe")
            first, last = d.iloc[0], d.iloc[-1]
            v[macro_name("Probe", task, model, "first")] = format_number(first["probe_mse"] * f)
            v[macro_name("Probe", task, model, "last")] = format_number(last["probe_mse"] * f)
            v[macro_name("Probe", task, model, "raw", "last")] = format_number(last["raw_mse"] * f)
            v[macro_name("Probe", task, model, "scale", "last")] = format_number(last["scale"])
            v[macro_name("Probe", task, model, "shift", "last")] = format_number(last["shift"])  # not .shift
    gd_tasks = []
    if gd_csv:
        gd = pd.read_csv(gd_csv)
        for task, d in gd.groupby("task", sort=False):
            gd_tasks.append(task)
            f = plot_scale(s["gd_scale"], int(d.n_dims.iloc[0]), "gd")
            for method, dm in d.groupby("method"):
                v[macro_name("Probe", task, method, "last")] = format_number(dm.mse.iloc[-1] * f)
            gamma = float(d[d.method == "gdpp"].gamma.iloc[0])
            v[macro_name("Probe", task, "gdpp", "gamma")] = f"{gamma:.2e}"
    v["ProbeGdTasksText"] = ", ".join(info["titles"][t] for t in gd_tasks) or "none"
    if gd_tasks:
        d = pd.read_csv(gd_csv)
        d = d[(d.task == gd_tasks[0]) & (d.method == "gdpp")]
        v["ProbeGammaSelected"] = f"{float(d.gamma.iloc[0]):.2e}"
    text = macros_tex(v)
    text += "\\newif\\ifProbing\n" + ("\\Probingtrue\n" if tasks else "")
    text += "\\newif\\ifProbingGd\n" + ("\\ProbingGdtrue\n" if gd_tasks else "")
    Path(out_tex).write_text(text)
