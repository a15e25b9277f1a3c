from mambaicl.nlp.report import figure_box_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    figure_box_job(dict(snakemake.params.results), snakemake.params.zero_shot, snakemake.output[0])
