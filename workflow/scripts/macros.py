from mambaicl.report.macros import macros_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    macros_job(snakemake.params.config, snakemake.params.curves, snakemake.params.models, snakemake.output[0])
