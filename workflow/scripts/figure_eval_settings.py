from mambaicl.pipeline import log_to
from mambaicl.settings import figure_settings_job

with log_to(snakemake.log[0]):
    figure_settings_job(snakemake.params.panels, snakemake.params.train_points, snakemake.output[0])
