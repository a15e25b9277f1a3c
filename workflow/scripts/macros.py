from mambaicl.pipeline import log_to, macros_job

with log_to(snakemake.log[0]):
    macros_job(snakemake.params.config, snakemake.params.curves, snakemake.params.models, snakemake.output[0])
