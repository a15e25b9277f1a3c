# One rule per figure; each depends on exactly the metrics it plots.


rule figure_error_curves:
    input:
        curves=f"{RESULTS}/metrics/{{task}}/curves.csv",
        meta=f"{RESULTS}/data/{{task}}/eval_prompts.json",
    output:
        report(f"{GENERATED}/figures/error_curves_{{task}}.pdf", caption="../report/error_curves.rst",
               category="Results", subcategory="{task}"),
    params:
        train_points=lambda w: config["tasks"][w.task]["curriculum"]["points"]["end"],
    log:
        f"{LOGS}/figures/error_curves_{{task}}.log",
    script:
        "../scripts/figure_error_curves.py"


PAPER_INPUTS["error_curves"] = expand(f"{GENERATED}/figures/error_curves_{{task}}.pdf", task=TASKS)
