from mambaicl.pipeline import log_to, table_param_counts_job

with log_to(snakemake.log[0]):
    table_param_counts_job(snakemake.input[0], snakemake.output[0])
