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
