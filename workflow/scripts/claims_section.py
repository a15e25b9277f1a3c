from mambaicl.report.claims import claims_section_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    claims_section_job(snakemake.input[0], snakemake.output.section, snakemake.output.macros)
