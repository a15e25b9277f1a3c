from mambaicl.report.figures import figure_settings_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    figure_settings_job(snakemake.params.panels, snakemake.params.train_points, snakemake.output[0],
                        snakemake.params.order)
