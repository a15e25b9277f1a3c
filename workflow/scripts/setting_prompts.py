from mambaicl.pipeline import log_to
from mambaicl.settings import make_setting_prompts_job

with log_to(snakemake.log[0]):
    make_setting_prompts_job(snakemake.params.spec, snakemake.output.npz, snakemake.output.meta)
