from mambaicl.runtime import log_to
from mambaicl.training.jobs import train_pack_job

with log_to(snakemake.log[0]):
    train_pack_job(
        snakemake.params.specs,
        list(snakemake.output.models),
        list(snakemake.output.metrics),
        snakemake.params.checkpoint_dirs,
        snakemake.params.device,
        snakemake.threads,
        scan=snakemake.config.get("scan", "auto"),  # a host choice, as in train.py
        compile_mode=snakemake.config["train"].get("compile", "eager"),  # a host choice, as in train.py
    )
