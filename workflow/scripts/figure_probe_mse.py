from mambaicl.report.figures import figure_probe_mse_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):  # main figure or the appendix one: params.models says which models it draws
    figure_probe_mse_job(snakemake.input.summary, snakemake.input.gd, snakemake.params.titles,
                         snakemake.params.gd_scale, snakemake.output[0], snakemake.params.models,
                         snakemake.params.order)
