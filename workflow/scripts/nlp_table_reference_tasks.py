from mambaicl.nlp.report import table_reference_tasks_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    table_reference_tasks_job(dict(snakemake.params.results), snakemake.input.reference, snakemake.output[0])
