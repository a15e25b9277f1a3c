from mambaicl.report.provenance import provenance_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    provenance_job(snakemake.params.config, list(snakemake.input.configs), snakemake.params.metas,
                   list(snakemake.input.metrics), snakemake.params.logs,
                   [f for f in [*snakemake.input.static, *snakemake.input.after] if f.endswith(".tex")],
                   snakemake.output.section,
                   snakemake.output.appendix)
