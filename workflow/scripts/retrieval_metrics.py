from mambaicl.pipeline import log_to
from mambaicl.settings import extra_metrics_job

with log_to(snakemake.log[0]):
    extra_metrics_job(snakemake.params.sets, snakemake.params.labels, snakemake.params.bootstrap,
                      snakemake.params.n_bins, snakemake.output.metrics, snakemake.output.by_position)
