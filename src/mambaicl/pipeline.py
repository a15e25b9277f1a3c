"""One function per workflow step. ``workflow/scripts/*.py`` only unpack Snakemake's object and call these."""

from __future__ import annotations

import contextlib
import json
import platform
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from . import __version__
from .baselines import BASELINE_LABELS
from .config import iter_runs, model_label, seeds_of, spec_hash, task_spec, train_spec
from .data import generate_prompt_set, load_prompt_set, save_prompt_set
from .device import configure_torch, resolve_device
from .evaluate import curve_table, score_baseline, score_model
from .param_counts import count_table
from .report import error_table_tex, format_duration, format_number, git_commit, latex_escape, macro_name, macros_tex
from .scaling import measure_forward
from .tasks import task_from_spec
from .train import load_trained_model, train
from .verdicts import DEFAULT_RULE

TASK_TITLES = {
    "linear_regression": "Linear regression",
    "skewed_linear_regression": "Skewed-covariance linear regression",
    "sparse_linear_regression": "Sparse linear regression",
    "relu_nn": "2-layer ReLU network",
    "decision_tree": "Decision tree",
    "noisy_linear_regression": "Noisy linear regression",
    "quadratic_regression": "Quadratic regression",
    "ortho_outlier_regression": "Orthogonal-outlier regression",
    "many_outlier_regression": "Many-outlier regression",
    "sparse_parity": "Sparse parity",
    "mqar": "Vector-valued MQAR",
    "cot_io": "Chain-of-thought I/O",
}


def task_title(spec_task: dict, instance: str) -> str:
    """Display title of a task instance: its generator's title, plus the instance name if it differs."""
    title = TASK_TITLES.get(spec_task["name"], spec_task["name"])
    return title if instance == spec_task["name"] else f"{title} ({instance.replace('_', ' ')})"


@contextlib.contextmanager
def log_to(path: str | Path | None):
    """Send stdout and stderr (tqdm included) to the rule's declared log file."""
    if path is None:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        yield


def make_eval_prompts(spec: dict, out_npz: str, out_meta: str) -> None:
    ps = generate_prompt_set(spec)
    save_prompt_set(ps, out_npz, out_meta)
    print(f"wrote {ps.n_prompts} prompts of {ps.n_points} points to {out_npz}")


def train_job(spec: dict, model_out: str, metrics_out: str, checkpoint_dir: str, device: str, threads: int) -> None:
    dev = resolve_device(device)
    configure_torch(dev, threads)
    print(f"training {spec['model']['backbone']} on {spec['task']['name']} (seed {spec['seed']}, "
          f"spec {spec_hash(spec)}) on {dev}")
    train(spec, model_out, metrics_out, checkpoint_dir, device=dev)


def evaluate_model_job(model_path: str, data_npz: str, data_meta: str, out_npy: str, batch_size: int,
                       device: str, threads: int, out_extra: str | None = None) -> None:
    """Score a trained model with its own task's read-out and metric (also on another setting's prompts)."""
    dev = resolve_device(device)
    configure_torch(dev, threads)
    prompts = load_prompt_set(data_npz, data_meta)
    model, state = load_trained_model(model_path, dev)
    errs, extras = score_model(model, task_from_spec(state["spec"]["task"]), prompts, batch_size, dev)
    np.save(out_npy, errs)
    if out_extra is not None:
        np.savez(out_extra, **extras)
    print(f"evaluated {model_path} (spec {state['spec_hash']}) on {prompts.n_prompts} prompts")


def evaluate_baseline_job(name: str, data_npz: str, data_meta: str, out_npy: str, threads: int,
                          n_jobs: int = 1, seed: int = 0, out_extra: str | None = None,
                          scoring_task: dict | None = None) -> None:
    """Score baseline ``name``; ``scoring_task`` (the trained task's spec) scores a setting's prompts
    the way that task's models are scored; default the prompt set's own generator."""
    configure_torch(torch.device("cpu"), threads)
    prompts = load_prompt_set(data_npz, data_meta)
    task = task_from_spec(scoring_task or prompts.meta["spec"]["task"])
    errs, extras = score_baseline(name, task, prompts, n_jobs=n_jobs, seed=seed)
    np.save(out_npy, errs)
    if out_extra is not None:
        np.savez(out_extra, **extras)


def aggregate_curves_job(task: str, model_errors: dict[str, list[str]], model_labels: dict[str, str],
                         baseline_errors: dict[str, str], data_meta: str, bootstrap: dict,
                         out_csv: str, out_per_seed_csv: str) -> None:
    """Mean over seeds with a bootstrap CI (prompts resampled within seeds); per-seed curves kept too."""
    normalizer = json.loads(Path(data_meta).read_text())["normalizer"]
    frames, per_seed = [], []
    for model, paths in model_errors.items():
        errs = [np.load(p) for p in paths]
        frames.append(curve_table(errs, normalizer, bootstrap, task=task, kind="model", name=model,
                                  label=model_labels[model]))
        for path, e in zip(paths, errs):
            seed = Path(path).parent.name.removeprefix("seed")
            per_seed.append(curve_table(e, normalizer, bootstrap, task=task, kind="model", name=model,
                                        label=model_labels[model], seed=int(seed)))
    for name, path in baseline_errors.items():
        frames.append(curve_table(np.load(path), normalizer, bootstrap, task=task, kind="baseline", name=name,
                                  label=BASELINE_LABELS[name]))
    pd.concat(frames).to_csv(out_csv, index=False)
    pd.concat(per_seed).to_csv(out_per_seed_csv, index=False)


def param_counts_job(models: dict[str, dict], task_specs: dict[str, dict], labels: dict[str, str],
                     reference_csv: str, out_csv: str) -> None:
    """Effective parameter counts of every configured model; ``task_specs`` gives each model's first task."""
    token_dims = {m: task_from_spec(t).token_dim for m, t in task_specs.items()}
    table = count_table(models, token_dims, labels, pd.read_csv(reference_csv))
    table.to_csv(out_csv, index=False)
    print(table.to_string())


def table_param_counts_job(counts_csv: str, out_tex: str) -> None:
    df = pd.read_csv(counts_csv)
    lines = [r"\begin{table}[t]", r"\centering",
             r"\caption{Effective parameters (trainable, receiving gradients) of every configured model, counted "
             r"by instantiating it, beside the published count where the papers' releases give one for that size.}",
             r"\label{tab:param-counts}", r"\begin{tabular}{llrrrr}", r"\toprule",
             r"Model & Backbone & $d$ & Layers & Parameters & Published \\", r"\midrule"]
    for r in df.itertuples():
        pub = "--" if pd.isna(r.published) else f"{int(r.published):,}"
        lines.append(f"{latex_escape(r.label)} & \\texttt{{{latex_escape(r.backbone)}}} & {r.d_model} & {r.n_layer} & "
                     f"{r.params:,} & {pub} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    Path(out_tex).write_text("\n".join(lines))


def forward_scaling_job(scaling: dict, device: str, out_csv: str) -> None:
    dev = resolve_device(device)
    configure_torch(dev, scaling.get("threads"))
    frames = []
    for backbone in tqdm(scaling["backbones"], desc="backbones"):
        spec = {"backbone": backbone, "d_model": scaling["d_model"], "n_layer": scaling["n_layer"]}
        if backbone in ("gpt2", "standard_hybrid", "mambaformer"):
            spec["n_head"] = scaling["n_head"]
        df = measure_forward(spec, scaling["lengths"], scaling["batch_size"], scaling["token_dim"], dev,
                             scaling["repeats"])
        df.insert(0, "backbone", backbone)
        frames.append(df)
        print(df.to_string(index=False))
    out = pd.concat(frames)
    out["device"] = str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev)
    out["batch_size"] = scaling["batch_size"]
    out.to_csv(out_csv, index=False)


def figure_forward_scaling_job(csv: str, out_pdf: str) -> None:
    from .figures import plot_forward_scaling  # matplotlib and seaborn: only figure jobs pay their import

    plot_forward_scaling(pd.read_csv(csv), out_pdf)


def _metric_info(meta_path: str) -> tuple[dict, str, bool]:
    meta = json.loads(Path(meta_path).read_text())
    task = task_from_spec(meta["spec"]["task"])
    return meta["spec"]["task"], task.metric, task.higher_is_better


def metric_label(metric: str) -> str:
    return {"accuracy": "accuracy"}.get(metric, "normalized squared error")


def figure_error_curves_job(task: str, curves_csv: str, data_meta: str, train_points: int, out_pdf: str) -> None:
    from .figures import plot_error_curves

    spec, metric, higher = _metric_info(data_meta)
    plot_error_curves(pd.read_csv(curves_csv), out_pdf, task_title(spec, task), train_points,
                      ylabel=metric_label(metric), reference=0.5 if higher else 1.0)


def report_k_values(k_values: list[int], curves: pd.DataFrame) -> list[int]:
    """The configured k that this task evaluates; its last position if none is."""
    ks = [k for k in k_values if k <= curves.k.max()]
    return ks or [int(curves.k.max())]


def table_errors_job(task: str, curves_csv: str, data_meta: str, k_values: list[int], out_tex: str) -> None:
    spec, metric, _ = _metric_info(data_meta)
    curves = pd.read_csv(curves_csv)
    caption = (f"{task_title(spec, task)}: {metric_label(metric)} after $k$ in-context examples "
               "(mean over seeds and evaluation prompts).")
    Path(out_tex).write_text(error_table_tex(curves, report_k_values(k_values, curves), caption,
                                             f"tab:errors-{task.replace('_', '-')}"))


def options_text(spec_task: dict) -> str:
    """The generator options a figure used, e.g. 'reference_weight = fresh, outlier_prob = 0.5'."""
    return ", ".join(f"{k} = {v}" for k, v in sorted(spec_task.items()) if k != "name")


def results_section_job(tasks: list[str], titles: dict[str, str], options: dict[str, str], out_tex: str,
                        settings: dict[str, list[str]] | None = None, retrieval_tasks: list[str] = (),
                        skewed_covariance: bool = False, verdicts: bool = False) -> None:
    """The per-task results: one figure and one table per configured task, in config order; each
    caption states the generator options (released behaviour or corrected) the task ran with. Tasks
    with further evaluation settings get their panel figure and table (or, for MQAR, the retrieval
    table); then the skewed-covariance figure and the verdict table when the config has them."""
    settings = settings or {}
    lines = ["% Generated by the workflow; do not edit."]
    for task in tasks:
        slug = task.replace("_", "-")
        lines += [
            r"\begin{figure}[tbp]", r"\centering",
            rf"\includegraphics[width=0.7\linewidth]{{generated/figures/error_curves_{task}.pdf}}",
            rf"\caption{{{latex_escape(titles[task])}: per-position metric against the number of in-context "
            r"examples (mean over seeds, bootstrap band). Dotted line: training length. Generator options: "
            rf"\texttt{{{latex_escape(options[task])}}}.}}",
            rf"\label{{fig:errors-{slug}}}", r"\end{figure}",
            rf"\input{{generated/tables/errors_{task}.tex}}", "",
        ]
        if task in retrieval_tasks:
            lines += [rf"\input{{generated/tables/retrieval_{task}.tex}}", ""]
        elif settings.get(task):
            names = ", ".join(rf"\texttt{{{latex_escape(s)}}}" for s in settings[task])
            lines += [
                r"\begin{figure}[tbp]", r"\centering",
                rf"\includegraphics[width=\linewidth]{{generated/figures/eval_settings_{task}.pdf}}",
                rf"\caption{{{latex_escape(titles[task])}: the models trained on this task evaluated on further "
                rf"prompt sets ({names}); dashed horizontal line: the zero predictor's level in each setting.}}",
                rf"\label{{fig:settings-{slug}}}", r"\end{figure}",
                rf"\input{{generated/tables/eval_settings_{task}.tex}}", "",
            ]
    if skewed_covariance:
        lines += [
            r"\begin{figure}[tbp]", r"\centering",
            r"\includegraphics[width=0.8\linewidth]{generated/figures/skewed_covariance.pdf}",
            r"\caption{Skewed covariance: models trained and evaluated on skewed inputs (left) and models "
            r"trained on isotropic inputs evaluated on skewed inputs (right, out of distribution).}",
            r"\label{fig:skewed-covariance}", r"\end{figure}", "",
        ]
    if verdicts:
        lines += [r"\input{generated/tables/verdicts.tex}", ""]
    Path(out_tex).write_text("\n".join(lines) + "\n")


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
        states = [torch.load(p, map_location="cpu", weights_only=False) for p in paths]
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



def training_table_job(config: dict, out_tex: str) -> None:
    """One row per experiment group of the config: task, models, schedule, learning rates, clipping,
    steps and seeds, as the training jobs receive them (``config.train_spec``)."""
    rows, seen = [], set()
    for task, model, seed in iter_runs(config):
        if (task, model) in seen:
            continue
        seen.add((task, model))
        spec = train_spec(config, task, model, seed)
        rows.append(dict(task=task, model=model_label(config, model), schedule=spec["schedule"],
                         lr=spec["model"]["learning_rate"], clip=spec["grad_clip"], steps=spec["steps"],
                         precision=spec.get("precision", "fp32"),
                         seeds=", ".join(str(s) for s in seeds_of(config, task, model))))
    df = pd.DataFrame(rows)
    keys = ["task", "schedule", "lr", "clip", "steps", "precision", "seeds"]
    grouped = df.groupby(keys, sort=False, dropna=False)["model"].apply(lambda m: ", ".join(dict.fromkeys(m)))
    lines = [r"\begin{table}[tbp]", r"\centering", r"\scriptsize",
             r"\caption{Training as configured for this run: Adam $(0.9, 0.999)$ without weight decay, batch "
             rf"{config['train']['batch_size']}, fresh prompts at every step; schedule (cosine annealing to zero or "
             r"constant), learning rate, gradient-norm clip, steps and seeds per task and group of models.}",
             r"\label{tab:training}", r"\resizebox{\linewidth}{!}{%", r"\begin{tabular}{llllrrl}", r"\toprule",
             r"Task & Models & Schedule & LR & Clip & Steps & Seeds \\", r"\midrule"]
    for (task, schedule, lr, clip, steps, precision, seeds), models in grouped.items():
        sched = schedule + ("" if precision == "fp32" else f", {precision}")
        clip_s = "--" if clip is None or pd.isna(clip) else f"{clip:g}"
        lines.append(" & ".join([latex_escape(task), latex_escape(models), sched, f"{lr:g}", clip_s, f"{steps:,}",
                                 seeds]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]
    Path(out_tex).write_text("\n".join(lines))

