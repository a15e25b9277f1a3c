from mambaicl.pipeline import log_to
from mambaicl.reference import table_reference_job

with log_to(snakemake.log[0]):
    table_reference_job(snakemake.input[0], snakemake.output[0])
