from mambaicl.analysis.param_counts import param_counts_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    param_counts_job(
        snakemake.params.models, snakemake.params.task_specs, snakemake.params.labels,
        snakemake.input.reference, snakemake.output[0],
    )
