"""One function per workflow step. ``workflow/scripts/*.py`` only unpack Snakemake's object and call these."""

from __future__ import annotations

import contextlib
import json
import platform
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import __version__
from .baselines import BASELINE_LABELS
from .config import spec_hash
from .data import generate_prompt_set, load_prompt_set, save_prompt_set
from .device import configure_torch, resolve_device
from .evaluate import baseline_errors, curve_table, model_errors
from .figures import plot_error_curves
from .report import error_table_tex, format_duration, format_number, git_commit, macro_name, macros_tex
from .tasks import task_from_spec
from .train import load_trained_model, train

TASK_TITLES = {"linear_regression": "Linear regression"}


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
                       device: str, threads: int) -> None:
    dev = resolve_device(device)
    configure_torch(dev, threads)
    prompts = load_prompt_set(data_npz, data_meta)
    model, state = load_trained_model(model_path, dev)
    errs = model_errors(model, task_from_spec(state["spec"]["task"]), prompts, batch_size, dev)
    np.save(out_npy, errs)
    print(f"evaluated {model_path} (spec {state['spec_hash']}) on {prompts.n_prompts} prompts")


def evaluate_baseline_job(name: str, data_npz: str, data_meta: str, out_npy: str, threads: int) -> None:
    configure_torch(torch.device("cpu"), threads)
    prompts = load_prompt_set(data_npz, data_meta)
    np.save(out_npy, baseline_errors(name, task_from_spec(prompts.meta["spec"]["task"]), prompts))


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


def figure_error_curves_job(task: str, curves_csv: str, train_points: int, out_pdf: str) -> None:
    curves = pd.read_csv(curves_csv)
    plot_error_curves(curves, out_pdf, TASK_TITLES.get(task, task), train_points)


def table_errors_job(task: str, curves_csv: str, k_values: list[int], out_tex: str) -> None:
    curves = pd.read_csv(curves_csv)
    caption = (f"{TASK_TITLES.get(task, task)}: normalized squared error after $k$ in-context examples "
               "(mean over seeds and evaluation prompts).")
    Path(out_tex).write_text(error_table_tex(curves, k_values, caption, f"tab:errors-{task.replace('_', '-')}"))


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
        v[macro_name(task, "dims")] = str(t["n_dims"])
        v[macro_name(task, "train", "points")] = str(t["curriculum"]["points"]["end"])
        v[macro_name(task, "eval", "points")] = str(t["eval_points"])
        df = pd.read_csv(curves[task])
        for row in df[df.k.isin(config["report"]["k_values"])].itertuples():
            v[macro_name("err", task, row.name, "k", row.k)] = format_number(row.normalized_mean)
    for key, paths in models.items():
        task, model = key.split("/")
        states = [torch.load(p, map_location="cpu", weights_only=False) for p in paths]
        v[macro_name("params", task, model)] = f"{states[0]['effective_parameters']:,}"
        v[macro_name("train", "time", task, model)] = format_duration(np.mean([s["train_seconds"] for s in states]))
        devices.update(s["device"] for s in states)
    v["TrainDevice"] = ", ".join(sorted(devices))
    v["Platform"] = platform.machine() + " " + platform.system()
    text = macros_tex(v)
    text += "\\newif\\ifTinyScale\n" + ("\\TinyScaletrue\n" if config["scale"] != "paper" else "")
    Path(out_tex).write_text(text)

