from mambaicl.report.tables import table_retrieval_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    table_retrieval_job(snakemake.params.title, snakemake.wildcards.task, snakemake.params.curves,
                        snakemake.input.metrics, snakemake.output[0], snakemake.params.order,
                        snakemake.params.ci)
