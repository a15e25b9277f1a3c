from mambaicl.pipeline import log_to
from mambaicl.settings import table_settings_job

with log_to(snakemake.log[0]):
    table_settings_job(snakemake.params.title, snakemake.wildcards.task, snakemake.params.curves,
                       snakemake.params.window, snakemake.output[0])
