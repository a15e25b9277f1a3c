from mambaicl.evaluation.jobs import evaluate_model_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    evaluate_model_job(
        snakemake.input.model,
        snakemake.input.npz,
        snakemake.input.meta,
        snakemake.output.errors,
        snakemake.params.batch_size,
        snakemake.params.device,
        snakemake.threads,
        out_extra=snakemake.output.extra,
        scan=snakemake.config.get("scan", "auto"),  # from the config, not a param: see train.py
    )
