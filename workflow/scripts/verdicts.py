from mambaicl.analysis.verdicts import verdicts_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    verdicts_job(snakemake.params.tasks, snakemake.params.models, snakemake.params.rule, snakemake.params.window,
                 snakemake.input.published, snakemake.output[0])
