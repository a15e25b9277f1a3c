from mambaicl.pipeline import log_to, table_errors_job

with log_to(snakemake.log[0]):
    table_errors_job(
        snakemake.wildcards.task, snakemake.input.curves, snakemake.input.meta, snakemake.params.k_values,
        snakemake.output[0],
    )
