from mambaicl.evaluation.jobs import aggregate_curves_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    aggregate_curves_job(
        snakemake.wildcards.task,
        snakemake.params.model_errors,
        snakemake.params.labels,
        snakemake.params.baseline_errors,
        snakemake.input.meta,
        snakemake.params.bootstrap,
        snakemake.output.curves,
        snakemake.output.per_seed,
    )
