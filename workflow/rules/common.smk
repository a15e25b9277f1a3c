# Config validation, the CUDA guard and the helpers that map wildcards to inputs and per-job specs.
import os
import re
import sys
from pathlib import Path

from snakemake.utils import validate as snakemake_validate

from mambaicl.analysis.claims_config import claim_roles, claim_tasks
from mambaicl.config import eval_data_spec, iter_runs, model_label, paper_groups, seeds_of, task_spec, train_spec
from mambaicl.config.containers import check_image_present, execution_summary
from mambaicl.config.invocation import apply_overrides
from mambaicl.errors import ConfigError, DeviceError
from mambaicl.nlp.report import nlp_enabled as _nlp_enabled
from mambaicl.evaluation.settings import setting_baselines, setting_data_spec, settings_of, task_baselines
from mambaicl.report.labels import generator_choices_text, options_text, task_title
from mambaicl.runtime import check_cuda_guard
from mambaicl.tasks import task_from_spec
from mambaicl.validation import check_host
from mambaicl.validation import validate as validate_config

SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"

try:
    # --config values typed as in a config file (require_cuda=false, 'train={steps: 5}'), then the checks
    apply_overrides(config, workflow.config_settings.config, SCHEMA)
    validate_config(config, SCHEMA)
except ConfigError as err:
    sys.exit(str(err))  # one line naming the key, before any job
snakemake_validate(config, str(SCHEMA))  # fills in the schema's defaults

# Every rule runs in this Apptainer image when Snakemake is started with --use-singularity; without that
# flag the directive is ignored and jobs run on the host (CPU runs, CI). README: GPU hosts and containers.
container: config["container_image"]

USING_APPTAINER = any(m.name == "APPTAINER" for m in workflow.deployment_settings.deployment_method)
try:
    check_image_present(config["container_image"], USING_APPTAINER)
except ConfigError as err:
    sys.exit(f"error: {err}")

# GPU jobs declare gpu=GPU_JOB (the standard resource: the slurm plugin requests one device per job) and
# gpu_slots=GPU_JOB. Locally Snakemake assigns no device; the total `--resources gpu_slots=N`
# (profiles/default sets 8) is how many GPU jobs share the host's GPU at once.
GPU_JOB = 0 if config["device"] == "cpu" else 1
if workflow.is_main_process and (GPU_JOB or USING_APPTAINER):  # one line, dry runs included
    print(execution_summary(config["device"], getattr(workflow.global_resources.get("gpu_slots"), "value", None),
                            config["container_image"], USING_APPTAINER, workflow.deployment_settings.apptainer_args,
                            threads=config["threads"],
                            cores=getattr(workflow.global_resources.get("_cores"), "value", None)),
          file=sys.stderr)

# On CPU hosts several jobs share the cores; OpenMP's default spin-waiting then makes every
# multi-threaded op pay for descheduled threads (5-30x slower steps measured on 2 cores). Jobs inherit this.
if config["device"] == "cpu":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

RUN = config["run_name"]
RESULTS = f"results/{RUN}"
LOGS = f"logs/{RUN}"
# Each run's report tree: its generated figures, tables and macros, and its compiled PDF (paper.smk),
# so that configs never share an output. The static sources stay in paper/.
REPORT = f"{RESULTS}/paper"
GENERATED = f"{REPORT}/generated"
PAPER_PDF = f"{REPORT}/main.pdf"
TASKS = list(dict.fromkeys(exp["task"] for exp in config["experiments"]))  # config order
MODELS_BY_TASK = {t: [m for exp in config["experiments"] if exp["task"] == t for m in exp["models"]] for t in TASKS}
TRAINED_MODELS = [m for m in config["models"] if any(m in ms for ms in MODELS_BY_TASK.values())]
FIRST_TASK = {m: next(t for t in TASKS if m in MODELS_BY_TASK[t]) for m in TRAINED_MODELS}
BASELINES_BY_TASK = {t: task_baselines(config, t) for t in TASKS}
ALL_BASELINES = sorted({b for bs in BASELINES_BY_TASK.values() for b in bs})
THREADS = config["threads"]
# The config file(s) this run was started with (the provenance section names and hashes them), relative to
# the repository root where they lie in it.
CONFIG_FILES = [os.path.relpath(p) if not os.path.relpath(p).startswith("..") else str(p)
                for p in (workflow.overwrite_configfiles or [DEFAULT_CONFIGFILE])]

# Each stage's rules file registers the generated files the paper uses (name -> path or list of paths);
# the paper rule, included last, depends on all of them.
PAPER_INPUTS = {}


wildcard_constraints:
    task="|".join(TASKS),
    model="|".join(config["models"]),
    seed=r"\d+",
    baseline="|".join(re.escape(b) for b in ALL_BASELINES) or "none",


# What the config asks of this machine, before any job (not in dry runs, which plan anywhere): the paper
# config's CUDA guard, device: cuda, and the NLP models about to be evaluated (local folders; offline, the
# hub cache).
onstart:
    try:
        check_cuda_guard(config)
        try:
            planned = {j.wildcards.nlp_model for j in workflow.dag.needrun_jobs()
                       if j.rule.name in ("nlp_evaluate", "nlp_sweep")}
        except AttributeError:  # Snakemake's DAG API changed: check every configured model
            planned = None
        check_host(config, planned)
    except (DeviceError, ConfigError) as err:
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


# --- evaluation settings (workflow/rules/evaluation.smk) ---

def setting_dir(task, setting):
    return f"{RESULTS}/settings/{task}/{setting}"


def setting_model_files(task, setting, name="errors.npy"):
    return {m: [f"{setting_dir(task, setting)}/eval/{m}/seed{s}/{name}" for s in seeds_of(config, task, m)]
            for m in MODELS_BY_TASK[task]}


def setting_baseline_files(task, setting, name="errors.npy"):
    return {b: f"{setting_dir(task, setting)}/eval/baselines/{b}/{name}"
            for b in setting_baselines(config, task, setting, BASELINES_BY_TASK[task])}


def curves_of(task, setting):
    if setting == "standard":
        return f"{RESULTS}/metrics/{task}/curves.csv"
    return f"{setting_dir(task, setting)}/curves.csv"


def meta_of(task, setting):
    if setting == "standard":
        return f"{RESULTS}/data/{task}/eval_prompts.json"
    return f"{setting_dir(task, setting)}/eval_prompts.json"


SETTINGS_BY_TASK = {t: settings_of(config, t) for t in TASKS}
TASKS_WITH_SETTINGS = [t for t in TASKS if SETTINGS_BY_TASK[t]]
ALL_SETTINGS = sorted({s for ss in SETTINGS_BY_TASK.values() for s in ss})
RETRIEVAL_TASKS = [t for t in TASKS if task_spec(config, t)["name"] == "mqar"]
PANEL_TASKS = [t for t in TASKS_WITH_SETTINGS if t not in RETRIEVAL_TASKS]



def settings_panels(task):
    return {s: (curves_of(task, s), meta_of(task, s)) for s in ["standard", *SETTINGS_BY_TASK[task]]}


def extra_metric_sets(task):
    out = {}
    for s in ["standard", *SETTINGS_BY_TASK[task]]:
        if s == "standard":
            models = {m: [p.replace("errors.npy", "extra_metrics.npz") for p in ps]
                      for m, ps in model_error_files(task).items()}
            baselines = {b: p.replace("errors.npy", "extra_metrics.npz") for b, p in baseline_error_files(task).items()}
            prompts = f"{RESULTS}/data/{task}/eval_prompts.npz"
        else:
            models = setting_model_files(task, s, "extra_metrics.npz")
            baselines = setting_baseline_files(task, s, "extra_metrics.npz")
            prompts = f"{setting_dir(task, s)}/eval_prompts.npz"
        out[s] = {"models": models, "baselines": baselines, "prompts": prompts}
    return out


def verdict_tasks():
    rows = {**{t: (pub, False) for t, pub in VERDICTS["tasks"].items()},
            **{t: (pub, True) for t, pub in VERDICTS.get("extension_rows", {}).items()}}
    return {t: {"published": pub, "registry": task_spec(config, t)["name"],
                "metric": task_from_spec(task_spec(config, t)).metric,
                "curves": curves_of(t, "standard"),
                "retrieval": f"{RESULTS}/metrics/{t}/retrieval.csv" if t in RETRIEVAL_TASKS else None,
                "n_pairs": getattr(task_from_spec(task_spec(config, t)), "n_pairs", None),  # MQAR's chance
                "train_points": config["tasks"][t]["curriculum"]["points"]["end"], "extension": extension}
            for t, (pub, extension) in rows.items()}


# --- reference numbers vs replicated (workflow/rules/report.smk: reference_comparison) ---

def reference_instances():
    """'published task/train>eval' -> [our task instance, setting] for the points we can look up."""
    from mambaicl.report.reference import TASK_GENERATORS

    out = {}
    for published, generator in TASK_GENERATORS.items():
        inst = next((t for t in TASKS if task_spec(config, t)["name"] == generator), None)
        if inst is None:
            continue
        dist = "skewed>skewed" if generator == "skewed_linear_regression" else "isotropic>isotropic"
        out[f"{published}/{dist}"] = [inst, "standard"]
        if generator == "linear_regression" and "skewed" in SETTINGS_BY_TASK[inst]:
            out[f"{published}/isotropic>skewed"] = [inst, "skewed"]
    return out


def reference_curves():
    return {f"{i}/{s}": curves_of(i, s) for i, s in reference_instances().values()}


# --- probing (workflow/rules/analysis.smk) ---

def probe_files(task):
    return {m: [f"{RESULTS}/probing/{task}/{m}/seed{s}/probe.csv" for s in probe_seeds(config, task, m)]
            for m in probe_models(config, task)}


def probe_titles():
    return {t: task_title(task_spec(config, t), t) for t in PROBE_TASKS}


# --- NLP study (workflow/rules/nlp.smk; NLP_LOCAL is set there) ---

NLP_DIR = f"{RESULTS}/nlp"

def nlp_built(m):
    return model_spec(m).source in BUILT_LOCALLY and m not in NLP_LOCAL

def nlp_model_input(w):
    return {"model": f"{NLP_DIR}/models/{w.nlp_model}"} if nlp_built(w.nlp_model) else {}

def nlp_location(w):
    if nlp_built(w.nlp_model):
        return f"{NLP_DIR}/models/{w.nlp_model}"
    return NLP_LOCAL.get(w.nlp_model) or model_spec(w.nlp_model).hub

def nlp_files(models, name):
    return {m: f"{NLP_DIR}/eval/{m}/{name}" for m in models}


# --- the claims ledger (workflow/rules/analysis.smk: claims; VERDICTS and PROBE_TASKS are set there) ---

CLAIM_ROLES = claim_roles(config)
CLAIM_TASKS = claim_tasks(config, CLAIM_ROLES)


def claims_inputs():
    from mambaicl.nlp.models import MODELS as NLP_SPECS

    nlp = _nlp_enabled(config)
    return {
        "roles": CLAIM_ROLES,
        "g_tasks": {r: {**info, "curves": curves_of(info["instance"], "standard")} for r, info in CLAIM_TASKS.items()},
        "verdicts": f"{RESULTS}/metrics/verdicts.csv" if VERDICTS else None,
        "probing": f"{RESULTS}/probing/summary.csv" if PROBE_TASKS else None,
        "probe_tasks": {t: {"curves": curves_of(t, "standard"),
                            "train_points": config["tasks"][t]["curriculum"]["points"]["end"]} for t in PROBE_TASKS},
        "scaling": f"{RESULTS}/benchmarks/forward_scaling.csv",
        "nlp": nlp_files(config["nlp"]["models"], "summary.csv") if nlp else {},
        "nlp_sizes": {m: NLP_SPECS[m].params_b for m in config["nlp"]["models"] if m in NLP_SPECS} if nlp else {},
    }


# --- results section (workflow/rules/report.smk: results_section) ---

def results_drawn():
    """Per figure of the results section (workflow/rules/report.smk), the curves it draws: its caption states
    their seeds and band. Called by the results_section rule, after report.smk registered its optional figures."""
    out = {f"errors/{t}": [f"{RESULTS}/metrics/{t}/curves.csv"] for t in TASKS}
    out |= {f"settings/{t}": [c for c, _ in settings_panels(t).values()] for t in PANEL_TASKS}
    if "skewed_covariance" in PAPER_INPUTS:
        out["skewed"] = [curves_of(SKEWED_TASK, "standard"), curves_of(ISOTROPIC_TASK, "skewed")]
    return out


# --- provenance (workflow/rules/report.smk: provenance_section) ---

def prompt_metas():
    """Every evaluation prompt set of the run: name -> its sidecar (shape, seed, SHA-256)."""
    out = {t: meta_of(t, "standard") for t in TASKS}
    out |= {f"{t}/{s}": meta_of(t, s) for t in TASKS for s in SETTINGS_BY_TASK[t]}
    return out


def provenance_after(wildcards):
    """Every other file the paper reads: the provenance section is written last, so that the job logs it
    sums (params.logs; Snakemake cannot declare another job's log as an input) are complete."""
    return [p for k, v in PAPER_INPUTS.items() if not k.startswith("provenance")
            for p in (v if isinstance(v, list) else [v])]
