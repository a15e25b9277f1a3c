from mambaicl.evaluation.jobs import extra_metrics_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    extra_metrics_job(snakemake.params.sets, snakemake.params.labels, snakemake.params.bootstrap,
                      snakemake.params.n_bins, snakemake.output.metrics, snakemake.output.by_position)
