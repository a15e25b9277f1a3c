"""The macros files: every number the paper text quotes, as a ``\\newcommand`` (``workflow/scripts/macros.py``,
``macros_probing.py``), and the report section's config checks."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import __version__
from ..analysis.claims import window_error
from ..analysis.chance import chance_error
from ..analysis.verdicts import DEFAULT_RULE
from ..config import model_label, models_of, spec_hash, suggest, task_spec, trained_tasks
from ..errors import ConfigError
from ..evaluation.settings import task_baselines
from ..tasks import task_from_spec
from ..training.checkpoints import load_checkpoint
from .captions import probe_caption
from .labels import k_values_upto, plot_scale, task_title
from .latex import format_duration, format_number, format_sci, git_commit, macro_name, macros_tex
from .probing_text import CHOICE_MACROS, RAW_MACROS, choice_info, choice_macros, choice_switches


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


# --- which macros each generated file defines, from the config alone ----------------------------------
# The static TeX (paper/main.tex, paper/sections/) may use a macro only where every config defines it, or
# inside the \if switch under which it is defined; tests/test_paper_contract.py checks every shipped config
# against these lists, and each job below asserts that it wrote exactly the names listed for its config.

MAIN_FIXED = ("RunName", "RunScale", "ConfigHash", "GitCommit", "PackageVersion", "TorchVersion", "PythonVersion",
              "TrainSteps", "BatchSize", "NumSeeds", "EvalPrompts", "BootstrapResamples", "BootstrapCI",
              "ReportWindow", "TrainDevice", "Platform",
              "HeadlineTask", "HeadlineSlug", "HeadlineKRange", "HeadlineModel", "HeadlineModelErr", "HeadlineBaseline",
              "HeadlineBaselineErr",
              "ProvenanceTask", "ProvenanceModel", "ProvenanceParams", "ProvenanceTrainTime", "SetupRatesText",
              "SetupEvalPointsText", "SetupSeedsText", "SetupEvalPromptsText")
SETUP = ("SetupDims", "SetupTrainPoints", "SetupEvalPoints")
VERDICT = ("VerdictFailsAt", "VerdictOnParAbs", "VerdictOnParRel", "VerdictParityFailsAt", "VerdictParityOnParAt",
           "VerdictWindowAt", "VerdictReference")
PROBING_FIXED = ("ProbePrompts", "ProbePoints", "ProbeContext", "ProbeQueries", "ProbeFitFirst", "ProbeFitLast",
                 "ProbeFitCount", "ProbeBootstrap", "ProbeCI", "ProbeGdScale", "ProbeGdIterations",
                 "ProbeGdLastIterate", "ProbeGammaMin", "ProbeGammaMax", "ProbeGammaCount",
                 "ProbeGammaSelectIteration", "ProbeTasksText", "ProbeSkippedText", "ProbeDataText",
                 "ProbeGdTasksText", "ProbeSeedsText") + CHOICE_MACROS


def first_run(config: dict) -> tuple[str, str]:
    """The first task of the config and the first model trained on it: the headline and provenance sentences."""
    task = trained_tasks(config)[0]
    return task, models_of(config, task)[0]


def setup_task(config: dict) -> str | None:
    """The task instance the setup section describes: the first trained linear-regression instance."""
    return next((t for t in trained_tasks(config) if task_spec(config, t)["name"] == "linear_regression"), None)


def err_keys(config: dict, task: str) -> list[tuple[str, int]]:
    """(model or baseline, k) of a task's error macros: every curve at every reported k its prompts reach."""
    names = models_of(config, task) + task_baselines(config, task)
    ks = k_values_upto(config["report"]["k_values"], config["tasks"][task]["eval_points"] - 1)
    return [(name, k) for k in ks for name in names]


def main_switches(config: dict) -> dict[str, bool]:
    from ..nlp.report import nlp_enabled

    return {"TinyScale": config["scale"] != "paper", "Verdicts": bool(config["report"].get("verdicts")),
            "SetupLinearRegression": setup_task(config) is not None, "Nlp": nlp_enabled(config)}


def main_macro_names(config: dict) -> list[str]:
    """Every macro ``macros_job`` writes for ``config`` (generated/macros.tex)."""
    names = set(MAIN_FIXED)
    for task in config["tasks"]:
        names |= {macro_name(task, "dims"), macro_name(task, "train", "points"), macro_name(task, "eval", "points")}
    for task in trained_tasks(config):
        names |= {macro_name("err", task, name, "k", k) for name, k in err_keys(config, task)}
        for model in models_of(config, task):
            names |= {macro_name("params", task, model), macro_name("train", "time", task, model)}
    switches = main_switches(config)
    names |= set(SETUP) if switches["SetupLinearRegression"] else set()
    names |= set(VERDICT) if switches["Verdicts"] else set()
    return sorted(names)


def probing_macros(config: dict) -> dict:
    """Names and switches ``macros_probing_job`` writes for ``config`` (generated/macros_probing.tex)."""
    from ..analysis.probe_config import gd_reference_tasks, probe_models, probe_seeds, probe_tasks

    names = set(PROBING_FIXED)
    tasks, gd_tasks = probe_tasks(config), gd_reference_tasks(config)
    for task in tasks:
        for model in probe_models(config, task):
            if probe_seeds(config, task, model):
                names |= {macro_name("Probe", task, model, *end) for end in
                          (["first"], ["last"], ["raw", "last"], ["scale", "last"], ["shift", "last"])}
    for task in gd_tasks:
        names |= {macro_name("Probe", task, "gd", "last"), macro_name("Probe", task, "gdpp", "last"),
                  macro_name("Probe", task, "gdpp", "gamma")}
    if gd_tasks:
        names.add("ProbeGammaSelected")
    switches = {"Probing": bool(tasks), "ProbingGd": bool(gd_tasks), **choice_switches(choice_info(config))}
    return {"names": sorted(names), "switches": switches}


def paper_macros(config: dict) -> dict[str, dict]:
    """Per generated macros file the paper reads for ``config``: the names it defines and its ``\\if``
    switches with their state. Computed from the config alone (no run needed)."""
    from ..nlp.report import macro_names as nlp_macro_names, nlp_enabled

    from .claims import CLAIMS_MACROS
    from .scaling_text import scaling_macro_names

    out = {"macros.tex": {"names": main_macro_names(config), "switches": main_switches(config)},
           "macros_probing.tex": probing_macros(config),
           "macros_claims.tex": {"names": sorted(CLAIMS_MACROS), "switches": {}},
           "macros_scaling.tex": {"names": scaling_macro_names(config["scaling"]), "switches": {}}}
    if nlp_enabled(config):
        nlp = config["nlp"]
        out["macros_nlp.tex"] = {"names": nlp_macro_names(nlp["models"], nlp["sweep"]["models"]), "switches": {}}
    return out


def check_names(written: dict[str, str], switches: dict[str, bool], expected: dict, what: str) -> None:
    """A macros job wrote exactly the names and switch states listed for its config, or it fails."""
    missing, extra = sorted(set(expected["names"]) - set(written)), sorted(set(written) - set(expected["names"]))
    if missing or extra or switches != expected["switches"]:
        raise AssertionError(f"{what}: the macros written differ from report.macros.paper_macros (missing {missing}, "
                             f"unlisted {extra}, switches {switches} vs {expected['switches']})")


def switches_tex(switches: dict[str, bool]) -> str:
    return "".join(f"\\newif\\if{name}\n" + (f"\\{name}true\n" if on else "") for name, on in switches.items())


# --- the jobs ---------------------------------------------------------------------------------------------


def headline_macros(config: dict, curves: dict[str, str]) -> dict[str, str]:
    """The results section's opening sentence for any config: on the first task, the first trained model
    and the best baseline, each as its mean over the last ``report.window`` positions within the training
    length (in distribution: never an extrapolation point)."""
    task, first_model = first_run(config)
    df = pd.read_csv(curves[task])
    window = config["report"].get("window", 10)
    last = min(config["tasks"][task]["curriculum"]["points"]["end"], config["tasks"][task]["eval_points"]) - 1
    first = max(0, last - window + 1)
    labels = df.groupby("name").label.first()
    out = {"HeadlineTask": task_title(task_spec(config, task), task), "HeadlineSlug": task.replace("_", "-"),
           "HeadlineKRange": f"{first}--{last}" if first < last else str(last),
           "HeadlineModel": labels[first_model],
           "HeadlineModelErr": format_number(window_error(df, first_model, last, window))}
    base = {b: window_error(df, b, last, window) for b in df[df.kind == "baseline"].name.unique()}
    if base:
        best = min(base, key=base.get)
        out.update(HeadlineBaseline=labels[best], HeadlineBaselineErr=format_number(base[best]))
    else:
        out.update(HeadlineBaseline="no baseline", HeadlineBaselineErr="--")
    return out


def setup_text_macros(config: dict) -> dict[str, str]:
    """The setup section's statements that depend on the config: the learning rates this run used and the
    evaluation prompt lengths across its tasks."""
    from ..config import iter_runs, train_spec

    rates = sorted({train_spec(config, t, m, s)["model"]["learning_rate"] for t, m, s in iter_runs(config)})
    if len(rates) == 1:
        rates_text = f"one learning rate, {rates[0]:g}, for every model and task"
    else:
        rates_text = (f"learning rates from {rates[0]:g} to {rates[-1]:g}, set per model and task in the "
                      "configuration")
    points = sorted({config["tasks"][t]["eval_points"] for t in trained_tasks(config)})
    points_text = (f"{points[0]} points per prompt" if len(points) == 1 else
                   f"{points[0]} to {points[-1]} points per prompt depending on the task")
    seeds = {}
    for t, m, s in iter_runs(config):
        seeds.setdefault((t, m), set()).add(s)
    counts = sorted({len(v) for v in seeds.values()})
    seeds_text = (f"{counts[0]} seed{'s' if counts[0] > 1 else ''} per model" if len(counts) == 1 else
                  f"{counts[0]} to {counts[-1]} seeds per model depending on the task")
    n_prompts = {t: config["tasks"][t].get("eval_n_prompts", config["evaluation"]["n_prompts"])
                 for t in trained_tasks(config)}
    default = config["evaluation"]["n_prompts"]
    others = {t: n for t, n in n_prompts.items() if n != default}
    prompts_text = f"{default:,}" + (" (" + ", ".join(f"{n:,} for {t}" for t, n in others.items()) + ")"
                                     if others else "")
    return {"SetupRatesText": rates_text, "SetupEvalPointsText": points_text, "SetupSeedsText": seeds_text,
            "SetupEvalPromptsText": prompts_text}


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
    for task in trained_tasks(config):
        df = pd.read_csv(curves[task]).set_index(["name", "k"]).normalized_mean
        for name, k in err_keys(config, task):  # "--" where a curve stops short (a learned positional table)
            v[macro_name("err", task, name, "k", k)] = format_number(df[name, k]) if (name, k) in df.index else "--"
    for key, paths in models.items():
        task, model = key.split("/")
        states = [load_checkpoint(p) for p in paths]
        v[macro_name("params", task, model)] = f"{states[0]['effective_parameters']:,}"
        v[macro_name("train", "time", task, model)] = format_duration(np.mean([s["train_seconds"] for s in states]))
        devices.update(s["device"] for s in states)
    v.update(headline_macros(config, curves))
    first_task, first_model = first_run(config)
    v["ProvenanceTask"] = task_title(task_spec(config, first_task), first_task)
    v["ProvenanceModel"] = model_label(config, first_model)
    v["ProvenanceParams"] = v[macro_name("params", first_task, first_model)]
    v["ProvenanceTrainTime"] = v[macro_name("train", "time", first_task, first_model)]
    setup = setup_task(config)
    if setup:
        v["SetupDims"] = v[macro_name(setup, "dims")]
        v["SetupTrainPoints"] = v[macro_name(setup, "train", "points")]
        v["SetupEvalPoints"] = v[macro_name(setup, "eval", "points")]
    v["ReportWindow"] = str(config["report"].get("window", 10))
    v.update(setup_text_macros(config))
    verdicts = config["report"].get("verdicts")
    if verdicts:
        rule = {**DEFAULT_RULE, **{k: x for k, x in verdicts.items() if k not in ("tasks", "models")}}
        v["VerdictFailsAt"] = f"{rule['fails_at']:g}"
        v["VerdictOnParAbs"] = f"{rule['on_par_abs']:g}"
        v["VerdictOnParRel"] = f"{100 * rule['on_par_rel']:g}"
        v["VerdictParityFailsAt"] = f"{1 - rule['fails_at'] * chance_error('accuracy'):g}"  # the accuracy that fails
        v["VerdictParityOnParAt"] = f"{rule['parity_on_par_at']:g}"
        v["VerdictWindowAt"] = ("ending at each task's training length (Park et al.'s protocol: they evaluate "
                                "in distribution only)" if verdicts.get("at", "training_length") == "training_length"
                                else "at the last evaluated positions (beyond the training length: our extension, "
                                     "not Park et al.'s protocol)")
        v["VerdictReference"] = ("the task's baselines and Park et al.'s models" if
                                 verdicts.get("reference", "protocol") == "protocol" else
                                 "the task's baselines and every model trained on the task instance")
    v["TrainDevice"] = ", ".join(sorted(devices))
    v["Platform"] = platform.machine() + " " + platform.system()
    switches = main_switches(config)
    check_names(v, switches, {"names": main_macro_names(config), "switches": switches}, "macros.tex")
    Path(out_tex).write_text(macros_tex(v) + switches_tex(switches))


def macros_probing_job(settings: dict, info: dict, summary_csv: str | None, gd_csv: str | None, out_tex: str,
                       expected: dict | None = None) -> None:
    """Every probing number and list the paper quotes. ``info``: titles, models and skipped models per task,
    and what ``report.probing_text.choice_macros`` reads (main and appendix models, data titles).
    ``expected``: ``probing_macros(config)``, the names and switches this job must write."""
    s = settings
    v: dict[str, str] = {
        "ProbePrompts": str(s["n_prompts"]), "ProbePoints": str(s["n_points"]), "ProbeContext": str(s["n_context"]),
        "ProbeQueries": str(s["n_points"] - s["n_context"]),
        "ProbeFitFirst": str(s["fit_positions"]["start"] + 1), "ProbeFitLast": str(s["fit_positions"]["end"] + 1),
        "ProbeFitCount": str(s["fit_positions"]["end"] - s["fit_positions"]["start"] + 1),
        "ProbeBootstrap": f"{s['bootstrap']['n_resamples']:,}", "ProbeCI": str(round(100 * s["bootstrap"]["ci"])),
        "ProbeGdScale": s["gd_scale"], "ProbeGdIterations": str(s["gd_iterations"]),
        "ProbeGdLastIterate": str(s["gd_iterations"] - 1),
        "ProbeGammaMin": format_sci(s["gdpp"]["gamma_min"], 1), "ProbeGammaMax": format_sci(s["gdpp"]["gamma_max"], 1),
        "ProbeGammaCount": str(s["gdpp"]["n_gammas"]), "ProbeGammaSelectIteration": str(s["gdpp"]["select_iteration"]),
    }
    tasks = list(info["titles"])
    v["ProbeTasksText"] = "; ".join(
        f"{info['titles'][t]} ({', '.join(info['labels'][m] for m in info['models'][t])})" for t in tasks) or "none"
    skipped = [f"{info['labels'][m]} on {info['titles'][t]}" for t in tasks for m in info["skipped"][t]]
    v["ProbeSkippedText"] = ", ".join(skipped) if skipped else "none"
    v["ProbeDataText"] = "; ".join(f"{info['titles'][t]}: {info['data'][t]}" for t in tasks) or "none"
    v["ProbeSeedsText"] = "no model probed"
    if summary_csv:
        df = pd.read_csv(summary_csv)
        v["ProbeSeedsText"] = probe_caption(df, s["bootstrap"]["ci"])  # the seeds and band the figures draw
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
            v[macro_name("Probe", task, "gdpp", "gamma")] = format_sci(gamma, 3)
    v["ProbeGdTasksText"] = ", ".join(info["titles"][t] for t in gd_tasks) or "none"
    if gd_tasks:
        d = pd.read_csv(gd_csv)
        d = d[(d.task == gd_tasks[0]) & (d.method == "gdpp")]
        v["ProbeGammaSelected"] = format_sci(float(d.gamma.iloc[0]), 3)
    v.update(choice_macros(s, info))
    switches = {"Probing": bool(tasks), "ProbingGd": bool(gd_tasks), **choice_switches(info)}
    if expected is not None:
        check_names(v, switches, expected, "macros_probing.tex")
    Path(out_tex).write_text(macros_tex(v, RAW_MACROS) + switches_tex(switches))
