from mambaicl.report.reference import reference_comparison_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    reference_comparison_job(snakemake.input.simple_functions, snakemake.input.baselines, snakemake.params.curves,
                             snakemake.params.task_dims, snakemake.params.instances, snakemake.params.models,
                             snakemake.output[0])
