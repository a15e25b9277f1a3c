from mambaicl.nlp.report import figure_shots_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    figure_shots_job(dict(snakemake.params.sweeps), snakemake.output.pdf, snakemake.output.csv,
                     snakemake.input.reference, list(snakemake.params.order))
