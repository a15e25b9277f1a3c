from mambaicl.evaluation.jobs import make_eval_prompts
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    make_eval_prompts(snakemake.params.spec, snakemake.output.npz, snakemake.output.meta)
