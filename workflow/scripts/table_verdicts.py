from mambaicl.report.tables import table_verdicts_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    table_verdicts_job(snakemake.input.verdicts, snakemake.params.titles, snakemake.params.labels,
                       snakemake.output[0], snakemake.input.table1, snakemake.params.order)
