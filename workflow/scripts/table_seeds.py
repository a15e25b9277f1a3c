from mambaicl.report.seed_table import table_seeds_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    table_seeds_job(snakemake.params.tasks, snakemake.params.window, snakemake.output[0], snakemake.params.order)
