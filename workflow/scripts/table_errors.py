from mambaicl.report.tables import table_errors_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    table_errors_job(
        snakemake.wildcards.task, snakemake.input.curves, snakemake.input.meta, snakemake.params.k_values,
        snakemake.output[0],
        snakemake.params.order, snakemake.params.ci,
    )
