from mambaicl.evaluation.jobs import evaluate_baseline_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    evaluate_baseline_job(
        snakemake.wildcards.baseline, snakemake.input.npz, snakemake.input.meta, snakemake.output.errors,
        snakemake.threads, snakemake.params.n_jobs, snakemake.params.seed,
        out_extra=snakemake.output.extra, scoring_task=snakemake.params.get("scoring_task"),
    )
