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
        # from the config, not a rule param: the implementation is a host choice like the device's kind, and a
        # new param would make Snakemake rerun every finished training
        scan=snakemake.config.get("scan", "auto"),
        # train.compile: likewise a host choice (results agree within float rounding), read here for the same reason
        compile_mode=snakemake.config["train"].get("compile", "eager"),
    )
