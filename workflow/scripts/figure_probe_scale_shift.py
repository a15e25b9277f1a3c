from mambaicl.report.figures import figure_probe_scale_shift_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    figure_probe_scale_shift_job(snakemake.input.summary, snakemake.params.titles, snakemake.output[0],
                                 snakemake.params.models, snakemake.params.order)
