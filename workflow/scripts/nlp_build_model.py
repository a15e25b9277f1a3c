from mambaicl.nlp.jobs import build_model_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    build_model_job(snakemake.wildcards.nlp_model, snakemake.output[0])
