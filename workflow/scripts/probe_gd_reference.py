from mambaicl.analysis.gd_reference import gd_reference_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    gd_reference_job(snakemake.params.prompts, snakemake.params.settings, snakemake.output.curves,
                     snakemake.output.search)
