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


rule figure_forward_scaling:
    input:
        f"{RESULTS}/benchmarks/forward_scaling.csv",
    output:
        report(f"{GENERATED}/figures/forward_scaling.pdf", caption="../report/forward_scaling.rst",
               category="Backbones"),
    log:
        f"{LOGS}/figures/forward_scaling.log",
    script:
        "../scripts/figure_forward_scaling.py"


PAPER_INPUTS["forward_scaling"] = f"{GENERATED}/figures/forward_scaling.pdf"
