from mambaicl.report.tables import table_param_counts_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    table_param_counts_job(snakemake.input.counts, snakemake.output[0], snakemake.input.reference)
