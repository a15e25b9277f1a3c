# Evaluation settings (tasks.<name>.eval_settings, ood_suite): further prompt sets for a task's trained
# models -- Garg's OOD suite, the outlier tasks' fixed_dummy / wo_dummy sets, MQAR's noisy queries --
# scored and aggregated like the standard set, then one panel figure and one table per task.
# Also Park's MQAR retrieval table (T2), the skewed-covariance figure (F2) and the verdict table (T1).


wildcard_constraints:
    setting="|".join(re.escape(s) for s in ALL_SETTINGS) or "none",


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


rule figure_eval_settings:
    input:
        curves=lambda w: [c for c, _ in settings_panels(w.task).values()],
        metas=lambda w: [m for _, m in settings_panels(w.task).values()],
    output:
        report(f"{GENERATED}/figures/eval_settings_{{task}}.pdf", caption="../report/eval_settings.rst",
               category="Evaluation settings", subcategory="{task}"),
    params:
        panels=lambda w: settings_panels(w.task),
        train_points=lambda w: config["tasks"][w.task]["curriculum"]["points"]["end"],
    log:
        f"{LOGS}/figures/eval_settings_{{task}}.log",
    script:
        "../scripts/figure_eval_settings.py"


rule table_eval_settings:
    input:
        lambda w: [c for c, _ in settings_panels(w.task).values()],
    output:
        f"{GENERATED}/tables/eval_settings_{{task}}.tex",
    params:
        title=lambda w: task_title(task_spec(config, w.task), w.task),
        curves=lambda w: {s: c for s, (c, _) in settings_panels(w.task).items()},
        window=config["report"]["window"],
    log:
        f"{LOGS}/tables/eval_settings_{{task}}.log",
    script:
        "../scripts/table_eval_settings.py"


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


rule table_retrieval:
    input:
        curves=lambda w: [curves_of(w.task, s) for s in ["standard", *SETTINGS_BY_TASK[w.task]]],
        metrics=f"{RESULTS}/metrics/{{task}}/retrieval.csv",
    output:
        f"{GENERATED}/tables/retrieval_{{task}}.tex",
    params:
        title=lambda w: task_title(task_spec(config, w.task), w.task),
        curves=lambda w: {s: curves_of(w.task, s) for s in ["standard", *SETTINGS_BY_TASK[w.task]]},
    log:
        f"{LOGS}/tables/retrieval_{{task}}.log",
    script:
        "../scripts/table_retrieval.py"


PAPER_INPUTS["eval_settings_figures"] = expand(f"{GENERATED}/figures/eval_settings_{{task}}.pdf", task=PANEL_TASKS)
PAPER_INPUTS["eval_settings_tables"] = expand(f"{GENERATED}/tables/eval_settings_{{task}}.tex", task=PANEL_TASKS)
PAPER_INPUTS["retrieval_tables"] = expand(f"{GENERATED}/tables/retrieval_{{task}}.tex", task=RETRIEVAL_TASKS)


# F2: skewed covariance -- models trained and evaluated on skewed data, beside isotropically trained
# models evaluated on the same kind of skewed data (their 'skewed' OOD setting).
SKEWED_TASK = next((t for t in TASKS if task_spec(config, t)["name"] == "skewed_linear_regression"), None)
ISOTROPIC_TASK = next((t for t in TASKS if task_spec(config, t)["name"] == "linear_regression"
                       and config["tasks"][t]["eval_settings"].get("skewed") == {"ood": "skewed"}), None)

if SKEWED_TASK and ISOTROPIC_TASK:

    rule figure_skewed_covariance:
        input:
            trained=curves_of(SKEWED_TASK, "standard"),
            trained_meta=meta_of(SKEWED_TASK, "standard"),
            ood=curves_of(ISOTROPIC_TASK, "skewed"),
            ood_meta=meta_of(ISOTROPIC_TASK, "skewed"),
        output:
            report(f"{GENERATED}/figures/skewed_covariance.pdf", caption="../report/skewed_covariance.rst",
                   category="Evaluation settings"),
        params:
            panels={"trained and evaluated on skewed inputs": (curves_of(SKEWED_TASK, "standard"),
                                                                meta_of(SKEWED_TASK, "standard")),
                    "trained isotropic, evaluated on skewed": (curves_of(ISOTROPIC_TASK, "skewed"),
                                                               meta_of(ISOTROPIC_TASK, "skewed"))},
            train_points=config["tasks"][SKEWED_TASK]["curriculum"]["points"]["end"],
        log:
            f"{LOGS}/figures/skewed_covariance.log",
        script:
            "../scripts/figure_eval_settings.py"

    PAPER_INPUTS["skewed_covariance"] = f"{GENERATED}/figures/skewed_covariance.pdf"


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

    rule table_verdicts:
        input:
            f"{RESULTS}/metrics/verdicts.csv",
        output:
            f"{GENERATED}/tables/verdicts.tex",
        params:
            titles={t: task_title(task_spec(config, t), t) for t in VERDICTS["tasks"]},
            labels={m: model_label(config, m) for m in VERDICTS["models"]},
        log:
            f"{LOGS}/tables/verdicts.log",
        script:
            "../scripts/table_verdicts.py"

    PAPER_INPUTS["verdicts"] = f"{GENERATED}/tables/verdicts.tex"
