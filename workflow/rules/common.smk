# Config validation, the CUDA guard and the helpers that map wildcards to inputs and per-job specs.
import os
import re
import sys
from pathlib import Path

from snakemake.utils import validate as snakemake_validate

from mambaicl.config import (
    eval_data_spec,
    iter_runs,
    model_label,
    seeds_of,
    task_baselines,
    task_spec,
    train_spec,
    validate as validate_config,
)
from mambaicl.device import check_cuda_guard
from mambaicl.pipeline import options_text, task_title
from mambaicl.errors import ConfigError, DeviceError

SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"

try:
    validate_config(config, SCHEMA)
except ConfigError as err:
    sys.exit(str(err))  # one line naming the key, before any job
snakemake_validate(config, str(SCHEMA))  # fills in the schema's defaults

# On CPU hosts several jobs share the cores; OpenMP's default spin-waiting then makes every
# multi-threaded op pay for descheduled threads (5-30x slower steps measured on 2 cores). Jobs inherit this.
if config["device"] == "cpu":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

RUN = config["run_name"]
RESULTS = f"results/{RUN}"
LOGS = f"logs/{RUN}"
GENERATED = "paper/generated"
TASKS = list(dict.fromkeys(exp["task"] for exp in config["experiments"]))  # config order
MODELS_BY_TASK = {t: [m for exp in config["experiments"] if exp["task"] == t for m in exp["models"]] for t in TASKS}
TRAINED_MODELS = [m for m in config["models"] if any(m in ms for ms in MODELS_BY_TASK.values())]
FIRST_TASK = {m: next(t for t in TASKS if m in MODELS_BY_TASK[t]) for m in TRAINED_MODELS}
BASELINES_BY_TASK = {t: task_baselines(config, t) for t in TASKS}
ALL_BASELINES = sorted({b for bs in BASELINES_BY_TASK.values() for b in bs})
THREADS = config["threads"]

# Each stage's rules file registers the generated files the paper uses (name -> path or list of paths);
# the paper rule, included last, depends on all of them.
PAPER_INPUTS = {}


wildcard_constraints:
    task="|".join(TASKS),
    model="|".join(config["models"]),
    seed=r"\d+",
    baseline="|".join(re.escape(b) for b in ALL_BASELINES) or "none",


onstart:
    try:
        check_cuda_guard(config)
    except DeviceError as err:
        sys.exit(f"error: {err}")


def model_dir(task, model, seed):
    return f"{RESULTS}/models/{task}/{model}/seed{seed}"


def checkpoint_dir(task, model, seed):
    return Path(model_dir(task, model, seed), "checkpoints").as_posix()


def model_error_files(task):
    return {m: [f"{RESULTS}/eval/{task}/{m}/seed{s}/errors.npy" for s in seeds_of(config, task, m)]
            for m in MODELS_BY_TASK[task]}


def baseline_error_files(task):
    return {b: f"{RESULTS}/eval/{task}/baselines/{b}/errors.npy" for b in BASELINES_BY_TASK[task]}


def flat(d):
    out = []
    for v in d.values():
        out.extend(v if isinstance(v, list) else [v])
    return out
