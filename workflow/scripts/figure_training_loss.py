from mambaicl.report.plots_training import figure_training_loss_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    figure_training_loss_job(snakemake.params.files, snakemake.params.titles, snakemake.params.labels,
                             snakemake.output[0], snakemake.params.order)
