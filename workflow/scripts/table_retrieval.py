from mambaicl.pipeline import log_to
from mambaicl.settings import table_retrieval_job

with log_to(snakemake.log[0]):
    table_retrieval_job(snakemake.params.title, snakemake.wildcards.task, snakemake.params.curves,
                        snakemake.input.metrics, snakemake.output[0])
