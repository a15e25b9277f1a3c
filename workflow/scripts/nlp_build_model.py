from mambaicl.nlp.report import build_model_job
from mambaicl.pipeline import log_to

with log_to(snakemake.log[0]):
    build_model_job(snakemake.wildcards.nlp_model, snakemake.output[0])
