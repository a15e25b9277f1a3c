from mambaicl.analysis.probing import probe_model_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    probe_model_job(
        snakemake.wildcards.task, snakemake.wildcards.model, int(snakemake.wildcards.seed), snakemake.input.model,
        snakemake.input.npz, snakemake.input.meta, snakemake.params.settings, snakemake.params.device,
        snakemake.threads, snakemake.output[0],
    )
