from mambaicl.pipeline import log_to
from mambaicl.probing import gd_reference_job

with log_to(snakemake.log[0]):
    gd_reference_job(snakemake.params.prompts, snakemake.params.settings, snakemake.output.curves,
                     snakemake.output.search)
