# Analysis stage (mambaicl.analysis): probing (Grazzi et al., spec 6) -- logit-lens decoding of every
# block of every probed model, the per-layer affine probe, GD / GD++ reference curves --, Park et al.'s
# verdicts from our curves, forward cost against sequence length, and parameter counts.
from mambaicl.analysis.probe_config import (
    data_task_of,
    gd_reference_tasks,
    main_probe_models,
    other_probe_models,
    probe_data_spec,
    probe_models,
    probe_seeds,
    probe_tasks,
    probing_settings,
    skipped_models,
)

PROBING = probing_settings(config)
PROBE_TASKS = probe_tasks(config)
GD_TASKS = gd_reference_tasks(config)
# Main probing figures: the reference Transformer and Mamba only (spec 11.2); the appendix figure: the rest.
PROBE_MAIN = {t: main_probe_models(config, t) for t in PROBE_TASKS}
PROBE_OTHER = {t: other_probe_models(config, t) for t in PROBE_TASKS}


rule probe_prompts:
    output:
        npz=f"{RESULTS}/probing/{{task}}/prompts.npz",
        meta=f"{RESULTS}/probing/{{task}}/prompts.json",
    params:
        spec=lambda w: probe_data_spec(config, w.task),
    log:
        f"{LOGS}/probing/prompts_{{task}}.log",
    script:
        "../scripts/make_eval_prompts.py"


rule probe_model:
    input:
        model=f"{RESULTS}/models/{{task}}/{{model}}/seed{{seed}}/model.pt",
        npz=f"{RESULTS}/probing/{{task}}/prompts.npz",
        meta=f"{RESULTS}/probing/{{task}}/prompts.json",
    output:
        f"{RESULTS}/probing/{{task}}/{{model}}/seed{{seed}}/probe.csv",
    params:
        settings={k: PROBING[k] for k in ("n_context", "fit_positions", "batch_size")},
        device=config["device"],
    threads: THREADS
    resources:
        gpu=GPU_JOB,
        gpu_slots=GPU_JOB,
    log:
        f"{LOGS}/probing/{{task}}/{{model}}/seed{{seed}}.log",
    script:
        "../scripts/probe_model.py"


rule probe_aggregate:
    input:
        [p for t in PROBE_TASKS for p in flat(probe_files(t))],
    output:
        f"{RESULTS}/probing/summary.csv",
    params:
        files={t: probe_files(t) for t in PROBE_TASKS},
        labels={m: model_label(config, m) for m in config["models"]},
        backbones={m: spec["backbone"] for m, spec in config["models"].items()},
        n_dims={t: probe_data_spec(config, t)["task"]["n_dims"] for t in PROBE_TASKS},
        bootstrap=PROBING["bootstrap"],
    log:
        f"{LOGS}/probing/aggregate.log",
    script:
        "../scripts/probe_aggregate.py"


rule probe_gd_reference:
    input:
        [f"{RESULTS}/probing/{t}/prompts.{ext}" for t in GD_TASKS for ext in ("npz", "json")],
    output:
        curves=f"{RESULTS}/probing/gd_reference.csv",
        search=f"{RESULTS}/probing/gdpp_gamma_search.csv",
    params:
        prompts={t: [f"{RESULTS}/probing/{t}/prompts.npz", f"{RESULTS}/probing/{t}/prompts.json"] for t in GD_TASKS},
        settings={k: PROBING[k] for k in ("n_context", "gd_iterations", "gdpp", "bootstrap")},
    log:
        f"{LOGS}/probing/gd_reference.log",
    script:
        "../scripts/probe_gd_reference.py"


# Forward time and memory against sequence length per backbone. It takes every core so that no other
# job runs beside it and disturbs the timings.


rule forward_scaling:
    output:
        f"{RESULTS}/benchmarks/forward_scaling.csv",
    params:
        scaling=config["scaling"],
        device=config["device"],
    threads: workflow.cores
    resources:
        gpu=GPU_JOB,
        gpu_slots=GPU_JOB,
    log:
        f"{LOGS}/benchmarks/forward_scaling.log",
    script:
        "../scripts/forward_scaling.py"


rule param_counts:
    input:
        reference="workflow/resources/reference/param_counts.csv",
    output:
        f"{RESULTS}/metrics/param_counts.csv",
    params:
        models={m: {k: v for k, v in spec.items() if k != "label"} for m, spec in config["models"].items() if m in TRAINED_MODELS},
        task_specs={m: task_spec(config, t) for m, t in FIRST_TASK.items()},
        labels={m: model_label(config, m) for m in TRAINED_MODELS},
    log:
        f"{LOGS}/tables/param_counts.log",
    script:
        "../scripts/param_counts.py"


# T1: Park et al.'s verdicts from our curves, beside the published ones.
VERDICTS = config["report"].get("verdicts")

if VERDICTS:

    rule verdicts:
        input:
            curves=[v["curves"] for v in verdict_tasks().values()],
            retrieval=[v["retrieval"] for v in verdict_tasks().values() if v["retrieval"]],
            published="workflow/resources/reference/park_table1.csv",
        output:
            f"{RESULTS}/metrics/verdicts.csv",
        params:
            tasks=verdict_tasks(),
            models=VERDICTS["models"],
            rule={k: v for k, v in VERDICTS.items() if k not in ("tasks", "models")},
            window=config["report"]["window"],
        log:
            f"{LOGS}/metrics/verdicts.log",
        script:
            "../scripts/verdicts.py"


# The claims ledger (spec 12): each claim of the two papers judged from the files above, or "not tested"
# with what this config lacks (inputs: common.smk claims_inputs).
CLAIMS_INPUTS = claims_inputs()

rule claims:
    input:
        curves=[curves_of(info["instance"], "standard") for info in CLAIM_TASKS.values()],
        verdicts=[f"{RESULTS}/metrics/verdicts.csv"] if VERDICTS else [],
        probing=[f"{RESULTS}/probing/summary.csv"] if PROBE_TASKS else [],
        probe_curves=[curves_of(t, "standard") for t in PROBE_TASKS],
        scaling=f"{RESULTS}/benchmarks/forward_scaling.csv",
        nlp=list(CLAIMS_INPUTS["nlp"].values()),
        published="workflow/resources/reference/park_table1.csv",
    output:
        f"{RESULTS}/metrics/claims.csv",
    params:
        inputs=CLAIMS_INPUTS,
        rule={k: v for k, v in config["report"].get("claims", {}).items() if k != "models"},
        window=config["report"]["window"],
    log:
        f"{LOGS}/metrics/claims.log",
    script:
        "../scripts/claims.py"
