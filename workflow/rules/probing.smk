# Probing (Grazzi et al., spec 6): logit-lens decoding of every block of every probed model, the per-layer
# affine probe, GD / GD++ reference curves, two figures and the macros the probing section quotes.
from mambaicl.probing import (
    data_task_of,
    gd_reference_tasks,
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


rule figure_probe_mse:
    input:
        summary=f"{RESULTS}/probing/summary.csv",
        gd=f"{RESULTS}/probing/gd_reference.csv",
    output:
        report(f"{GENERATED}/figures/probe_mse_by_depth.pdf", caption="../report/probing.rst", category="Probing"),
    params:
        titles=probe_titles(),
        gd_scale=PROBING["gd_scale"],
    log:
        f"{LOGS}/figures/probe_mse_by_depth.log",
    script:
        "../scripts/figure_probe_mse.py"


rule figure_probe_scale_shift:
    input:
        summary=f"{RESULTS}/probing/summary.csv",
    output:
        report(f"{GENERATED}/figures/probe_scale_shift_by_depth.pdf", caption="../report/probing.rst", category="Probing"),
    params:
        titles=probe_titles(),
    log:
        f"{LOGS}/figures/probe_scale_shift_by_depth.log",
    script:
        "../scripts/figure_probe_scale_shift.py"


rule macros_probing:
    input:
        summary=[f"{RESULTS}/probing/summary.csv"] if PROBE_TASKS else [],
        gd=[f"{RESULTS}/probing/gd_reference.csv"] if GD_TASKS else [],
    output:
        f"{GENERATED}/macros_probing.tex",
    params:
        settings={k: v for k, v in PROBING.items() if k != "tasks"},
        info={
            "titles": probe_titles(),
            "labels": {m: model_label(config, m) for m in config["models"]},
            "models": {t: probe_models(config, t) for t in PROBE_TASKS},
            "skipped": {t: skipped_models(config, t) for t in PROBE_TASKS},
            "data": {t: f"{data_task_of(config, t)} ({options_text(probe_data_spec(config, t)['task'])})"
                     for t in PROBE_TASKS},
        },
    log:
        f"{LOGS}/tables/macros_probing.log",
    script:
        "../scripts/macros_probing.py"


PAPER_INPUTS["probing"] = [f"{GENERATED}/macros_probing.tex"] + (
    [f"{GENERATED}/figures/probe_mse_by_depth.pdf", f"{GENERATED}/figures/probe_scale_shift_by_depth.pdf"]
    if PROBE_TASKS else []
)
