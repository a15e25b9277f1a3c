# Fixed, seeded evaluation prompt sets: every model and baseline of a task sees the same prompts.


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
