from mambaicl.nlp.report import data_job
from mambaicl.pipeline import log_to

with log_to(snakemake.log[0]):
    data_job(snakemake.output[0])
