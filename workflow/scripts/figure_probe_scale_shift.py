from mambaicl.pipeline import log_to
from mambaicl.probing import figure_probe_scale_shift_job

with log_to(snakemake.log[0]):
    figure_probe_scale_shift_job(snakemake.input.summary, snakemake.params.titles, snakemake.output[0])
