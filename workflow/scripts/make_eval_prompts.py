from mambaicl.pipeline import log_to, make_eval_prompts

with log_to(snakemake.log[0]):
    make_eval_prompts(snakemake.params.spec, snakemake.output.npz, snakemake.output.meta)
