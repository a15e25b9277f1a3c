from mambaicl.report.figures import figure_error_curves_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    figure_error_curves_job(
        snakemake.wildcards.task, snakemake.input.curves, snakemake.input.meta, snakemake.params.train_points,
        snakemake.output[0], snakemake.params.groups, snakemake.params.order,
    )
