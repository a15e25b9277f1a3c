from mambaicl.report.tables import training_table_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    training_table_job(snakemake.params.config, snakemake.output[0])
