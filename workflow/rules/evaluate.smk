# Evaluation: squared error per prompt and position for each trained model and each baseline, then
# per-position curves (mean over seeds, bootstrap CI) per task.


rule evaluate_model:
    input:
        model=f"{RESULTS}/models/{{task}}/{{model}}/seed{{seed}}/model.pt",
        npz=f"{RESULTS}/data/{{task}}/eval_prompts.npz",
        meta=f"{RESULTS}/data/{{task}}/eval_prompts.json",
    output:
        errors=f"{RESULTS}/eval/{{task}}/{{model}}/seed{{seed}}/errors.npy",
        extra=f"{RESULTS}/eval/{{task}}/{{model}}/seed{{seed}}/extra_metrics.npz",
    params:
        batch_size=config["evaluation"]["batch_size"],
        device=config["device"],
    threads: THREADS
    resources:
        gpu=GPU_JOB,
        gpu_slots=GPU_JOB,
    log:
        f"{LOGS}/evaluate/{{task}}/{{model}}/seed{{seed}}.log",
    script:
        "../scripts/evaluate_model.py"


rule evaluate_baseline:
    input:
        npz=f"{RESULTS}/data/{{task}}/eval_prompts.npz",
        meta=f"{RESULTS}/data/{{task}}/eval_prompts.json",
    output:
        errors=f"{RESULTS}/eval/{{task}}/baselines/{{baseline}}/errors.npy",
        extra=f"{RESULTS}/eval/{{task}}/baselines/{{baseline}}/extra_metrics.npz",
    params:
        n_jobs=config["evaluation"]["baseline_jobs"],
        seed=config["evaluation"]["data_seed"],
    threads: max(THREADS, config["evaluation"]["baseline_jobs"])
    log:
        f"{LOGS}/evaluate/{{task}}/baselines/{{baseline}}.log",
    script:
        "../scripts/evaluate_baseline.py"


rule aggregate_curves:
    input:
        models=lambda w: flat(model_error_files(w.task)),
        baselines=lambda w: flat(baseline_error_files(w.task)),
        meta=f"{RESULTS}/data/{{task}}/eval_prompts.json",
    output:
        curves=f"{RESULTS}/metrics/{{task}}/curves.csv",
        per_seed=f"{RESULTS}/metrics/{{task}}/curves_per_seed.csv",
    params:
        model_errors=lambda w: model_error_files(w.task),
        baseline_errors=lambda w: baseline_error_files(w.task),
        labels={m: model_label(config, m) for m in config["models"]},
        bootstrap=config["evaluation"]["bootstrap"],
    log:
        f"{LOGS}/aggregate_curves/{{task}}.log",
    script:
        "../scripts/aggregate_curves.py"
