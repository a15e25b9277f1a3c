from mambaicl.pipeline import log_to
from mambaicl.verdicts import table_verdicts_job

with log_to(snakemake.log[0]):
    table_verdicts_job(snakemake.input[0], snakemake.params.titles, snakemake.params.labels, snakemake.output[0])
