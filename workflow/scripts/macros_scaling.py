from mambaicl.report.scaling_text import macros_scaling_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    macros_scaling_job(snakemake.input[0], snakemake.output[0])
