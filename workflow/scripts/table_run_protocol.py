from mambaicl.report.run_protocol import run_protocol_job
from mambaicl.runtime import log_to

configs = snakemake.input.configs
with log_to(snakemake.log[0]):
    run_protocol_job(snakemake.params.config, snakemake.input.paper, snakemake.input.schema, snakemake.input.params,
                     snakemake.input.paper_params, snakemake.input.metrics,
                     ", ".join([configs] if isinstance(configs, str) else configs), snakemake.output[0])
