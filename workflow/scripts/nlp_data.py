from mambaicl.nlp.jobs import data_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    data_job(snakemake.output[0])
