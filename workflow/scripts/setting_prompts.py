from mambaicl.evaluation.jobs import make_setting_prompts_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    make_setting_prompts_job(snakemake.params.spec, snakemake.output.npz, snakemake.output.meta)
