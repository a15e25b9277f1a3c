from mambaicl.runtime import log_to
from mambaicl.training.jobs import train_job

with log_to(snakemake.log[0]):
    train_job(
        snakemake.params.spec,
        snakemake.output.model,
        snakemake.output.metrics,
        snakemake.params.checkpoint_dir,
        snakemake.params.device,
        snakemake.threads,
    )
