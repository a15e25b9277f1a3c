# Evaluation stage (mambaicl.evaluation): fixed, seeded prompt sets -- every model and baseline of a task
# sees the same prompts --, the squared error per prompt and position of each trained model and each
# baseline, and per-position curves (mean over seeds, bootstrap CI) per task. Then the further evaluation
# settings (tasks.<name>.eval_settings, ood_suite: Garg's OOD suite, the outlier tasks' fixed_dummy /
# wo_dummy sets, MQAR's noisy queries), scored and aggregated like the standard set, and MQAR's
# retrieval metrics.


wildcard_constraints:
    setting="|".join(re.escape(s) for s in ALL_SETTINGS) or "none",


rule eval_prompts:
    output:
        npz=f"{RESULTS}/data/{{task}}/eval_prompts.npz",
        meta=f"{RESULTS}/data/{{task}}/eval_prompts.json",
    params:
        spec=lambda w: eval_data_spec(config, w.task),
    log:
        f"{LOGS}/eval_prompts/{{task}}.log",
    script:
        "../scripts/make_eval_prompts.py"


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


rule setting_prompts:
    output:
        npz=f"{RESULTS}/settings/{{task}}/{{setting}}/eval_prompts.npz",
        meta=f"{RESULTS}/settings/{{task}}/{{setting}}/eval_prompts.json",
    params:
        spec=lambda w: setting_data_spec(config, w.task, w.setting),
    log:
        f"{LOGS}/settings/{{task}}/{{setting}}/prompts.log",
    script:
        "../scripts/setting_prompts.py"


use rule evaluate_model as evaluate_model_setting with:
    input:
        model=f"{RESULTS}/models/{{task}}/{{model}}/seed{{seed}}/model.pt",
        npz=f"{RESULTS}/settings/{{task}}/{{setting}}/eval_prompts.npz",
        meta=f"{RESULTS}/settings/{{task}}/{{setting}}/eval_prompts.json",
    output:
        errors=f"{RESULTS}/settings/{{task}}/{{setting}}/eval/{{model}}/seed{{seed}}/errors.npy",
        extra=f"{RESULTS}/settings/{{task}}/{{setting}}/eval/{{model}}/seed{{seed}}/extra_metrics.npz",
    log:
        f"{LOGS}/settings/{{task}}/{{setting}}/{{model}}/seed{{seed}}.log",


use rule evaluate_baseline as evaluate_baseline_setting with:
    input:
        npz=f"{RESULTS}/settings/{{task}}/{{setting}}/eval_prompts.npz",
        meta=f"{RESULTS}/settings/{{task}}/{{setting}}/eval_prompts.json",
    output:
        errors=f"{RESULTS}/settings/{{task}}/{{setting}}/eval/baselines/{{baseline}}/errors.npy",
        extra=f"{RESULTS}/settings/{{task}}/{{setting}}/eval/baselines/{{baseline}}/extra_metrics.npz",
    params:
        n_jobs=config["evaluation"]["baseline_jobs"],
        seed=config["evaluation"]["data_seed"],
        scoring_task=lambda w: task_spec(config, w.task),
    log:
        f"{LOGS}/settings/{{task}}/{{setting}}/baselines/{{baseline}}.log",


use rule aggregate_curves as aggregate_setting_curves with:
    input:
        models=lambda w: flat(setting_model_files(w.task, w.setting)),
        baselines=lambda w: flat(setting_baseline_files(w.task, w.setting)),
        meta=f"{RESULTS}/settings/{{task}}/{{setting}}/eval_prompts.json",
    output:
        curves=f"{RESULTS}/settings/{{task}}/{{setting}}/curves.csv",
        per_seed=f"{RESULTS}/settings/{{task}}/{{setting}}/curves_per_seed.csv",
    params:
        model_errors=lambda w: setting_model_files(w.task, w.setting),
        baseline_errors=lambda w: setting_baseline_files(w.task, w.setting),
        labels={m: model_label(config, m) for m in config["models"]},
        bootstrap=config["evaluation"]["bootstrap"],
    log:
        f"{LOGS}/settings/{{task}}/{{setting}}/aggregate.log",


rule retrieval_metrics:
    input:
        lambda w: [p for d in extra_metric_sets(w.task).values()
                   for p in [*flat(d["models"]), *d["baselines"].values(), d["prompts"]]],
    output:
        metrics=f"{RESULTS}/metrics/{{task}}/retrieval.csv",
        by_position=f"{RESULTS}/metrics/{{task}}/retrieval_by_position.csv",
    params:
        sets=lambda w: extra_metric_sets(w.task),
        labels={m: model_label(config, m) for m in config["models"]},
        bootstrap=config["evaluation"]["bootstrap"],
        n_bins=8,
    log:
        f"{LOGS}/metrics/retrieval_{{task}}.log",
    script:
        "../scripts/retrieval_metrics.py"
