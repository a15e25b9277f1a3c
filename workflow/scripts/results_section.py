from mambaicl.report.sections import results_section_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    results_section_job(
        snakemake.params.tasks, snakemake.params.titles, snakemake.params.options, snakemake.output[0],
        settings=snakemake.params.settings, retrieval_tasks=snakemake.params.retrieval_tasks,
        skewed_covariance=snakemake.params.skewed_covariance, verdicts=snakemake.params.verdicts,
        choices=snakemake.params.choices, drawn=snakemake.params.drawn, ci=snakemake.params.ci,
    )
