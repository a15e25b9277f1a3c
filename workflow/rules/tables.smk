# Tables and the macros file: every number in the paper text comes from here.


rule table_errors:
    input:
        curves=f"{RESULTS}/metrics/{{task}}/curves.csv",
        meta=f"{RESULTS}/data/{{task}}/eval_prompts.json",
    output:
        f"{GENERATED}/tables/errors_{{task}}.tex",
    params:
        k_values=config["report"]["k_values"],
    log:
        f"{LOGS}/tables/errors_{{task}}.log",
    script:
        "../scripts/table_errors.py"


rule macros:
    input:
        curves=expand(f"{RESULTS}/metrics/{{task}}/curves.csv", task=TASKS),
        models=[f"{model_dir(t, m, s)}/model.pt" for t, m, s in iter_runs(config)],
    output:
        f"{GENERATED}/macros.tex",
    params:
        config=config,
        curves={t: f"{RESULTS}/metrics/{t}/curves.csv" for t in TASKS},
        models={f"{t}/{m}": [f"{model_dir(t, m, s)}/model.pt" for s in seeds_of(config, t, m)]
                for t in TASKS for m in MODELS_BY_TASK[t]},
    log:
        f"{LOGS}/tables/macros.log",
    script:
        "../scripts/macros.py"


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


rule table_param_counts:
    input:
        f"{RESULTS}/metrics/param_counts.csv",
    output:
        f"{GENERATED}/tables/param_counts.tex",
    log:
        f"{LOGS}/tables/table_param_counts.log",
    script:
        "../scripts/table_param_counts.py"


rule results_section:
    input:
        figures=expand(f"{GENERATED}/figures/error_curves_{{task}}.pdf", task=TASKS),
        tables=expand(f"{GENERATED}/tables/errors_{{task}}.tex", task=TASKS),
        metas=expand(f"{RESULTS}/data/{{task}}/eval_prompts.json", task=TASKS),
        settings_figures=expand(f"{GENERATED}/figures/eval_settings_{{task}}.pdf", task=PANEL_TASKS),
        settings_tables=expand(f"{GENERATED}/tables/eval_settings_{{task}}.tex", task=PANEL_TASKS),
        retrieval_tables=expand(f"{GENERATED}/tables/retrieval_{{task}}.tex", task=RETRIEVAL_TASKS),
        skewed=[f"{GENERATED}/figures/skewed_covariance.pdf"] if "skewed_covariance" in PAPER_INPUTS else [],
        verdicts=[f"{GENERATED}/tables/verdicts.tex"] if "verdicts" in PAPER_INPUTS else [],
    output:
        f"{GENERATED}/sections/tasks.tex",
    params:
        tasks=TASKS,
        settings=SETTINGS_BY_TASK,
        retrieval_tasks=RETRIEVAL_TASKS,
        skewed_covariance="skewed_covariance" in PAPER_INPUTS,
        verdicts="verdicts" in PAPER_INPUTS,
        titles={t: task_title(task_spec(config, t), t) for t in TASKS},
        options={t: options_text(eval_data_spec(config, t)["task"]) for t in TASKS},
    log:
        f"{LOGS}/tables/results_section.log",
    script:
        "../scripts/results_section.py"


PAPER_INPUTS["macros"] = f"{GENERATED}/macros.tex"
PAPER_INPUTS["error_tables"] = expand(f"{GENERATED}/tables/errors_{{task}}.tex", task=TASKS)
PAPER_INPUTS["tasks_section"] = f"{GENERATED}/sections/tasks.tex"
PAPER_INPUTS["param_counts"] = f"{GENERATED}/tables/param_counts.tex"


rule reference_comparison:
    input:
        simple_functions="workflow/resources/reference/grazzi_simple_functions.csv",
        baselines="workflow/resources/reference/baselines_analytic.csv",
        curves=list(reference_curves().values()),
    output:
        f"{RESULTS}/metrics/reference_comparison.csv",
    params:
        curves=reference_curves(),
        task_dims={t: task_from_spec(task_spec(config, t)).n_dims for t in TASKS},
        instances=reference_instances(),
        models=config["report"].get("reference_models", {}),
    log:
        f"{LOGS}/tables/reference_comparison.log",
    script:
        "../scripts/reference_comparison.py"


rule table_reference:
    input:
        f"{RESULTS}/metrics/reference_comparison.csv",
    output:
        f"{GENERATED}/tables/reference_comparison.tex",
    log:
        f"{LOGS}/tables/table_reference.log",
    script:
        "../scripts/table_reference.py"


PAPER_INPUTS["reference_comparison"] = f"{GENERATED}/tables/reference_comparison.tex"


rule table_training:
    output:
        f"{GENERATED}/tables/training.tex",
    params:
        config={k: config[k] for k in ("models", "experiments", "train", "tasks")},
    log:
        f"{LOGS}/tables/training.log",
    script:
        "../scripts/table_training.py"


PAPER_INPUTS["training"] = f"{GENERATED}/tables/training.tex"
