from mambaicl.pipeline import log_to
from mambaicl.probing import figure_probe_mse_job

with log_to(snakemake.log[0]):
    figure_probe_mse_job(snakemake.input.summary, snakemake.input.gd, snakemake.params.titles,
                         snakemake.params.gd_scale, snakemake.output[0])
