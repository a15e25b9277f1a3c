from mambaicl.report.tables import table_settings_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    table_settings_job(snakemake.params.title, snakemake.wildcards.task, snakemake.params.curves,
                       snakemake.params.window, snakemake.output[0], snakemake.params.order)
