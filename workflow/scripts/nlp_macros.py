from mambaicl.nlp.report import macros_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    macros_job(dict(snakemake.params.results), dict(snakemake.params.sweeps), dict(snakemake.params.metas),
               snakemake.input.reference, snakemake.params.settings, snakemake.output[0])
