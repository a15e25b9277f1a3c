from mambaicl.analysis.claims_park import claims_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    claims_job(snakemake.params.inputs, snakemake.params.rule, snakemake.params.window,
               snakemake.input.published, snakemake.output[0])
