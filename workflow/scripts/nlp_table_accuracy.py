from mambaicl.nlp.report import table_accuracy_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    table_accuracy_job(dict(snakemake.params.results), snakemake.params.shots, snakemake.output[0],
                       dict(snakemake.params.metas))
