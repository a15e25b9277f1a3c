from mambaicl.pipeline import log_to, param_counts_job

with log_to(snakemake.log[0]):
    param_counts_job(
        snakemake.params.models, snakemake.params.task_specs, snakemake.params.labels,
        snakemake.input.reference, snakemake.output[0],
    )
