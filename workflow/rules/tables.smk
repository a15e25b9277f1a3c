# Tables and the macros file: every number in the paper text comes from here.


rule table_errors:
    input:
        curves=f"{RESULTS}/metrics/{{task}}/curves.csv",
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
        models={f"{t}/{m}": [f"{model_dir(t, m, s)}/model.pt" for s in SEEDS] for t in TASKS for m in MODELS_BY_TASK[t]},
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
