from mambaicl.pipeline import log_to, training_table_job

with log_to(snakemake.log[0]):
    training_table_job(snakemake.params.config, snakemake.output[0])
