from mambaicl.report.macros import macros_probing_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    summary, gd = snakemake.input.summary, snakemake.input.gd  # empty lists when nothing is probed
    macros_probing_job(snakemake.params.settings, snakemake.params.info, summary[0] if summary else None,
                       gd[0] if gd else None, snakemake.output[0], snakemake.params.expected)
