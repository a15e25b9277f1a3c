from mambaicl.report.reference import table_reference_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    table_reference_job(snakemake.input[0], snakemake.output[0], snakemake.params.order, snakemake.params.ci,
                        snakemake.params.scale)
