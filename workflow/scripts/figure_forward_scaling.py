from mambaicl.report.figures import figure_forward_scaling_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    figure_forward_scaling_job(snakemake.input[0], snakemake.output[0], snakemake.params.model_backbones)
