import sys

from mambaicl.errors import MambaICLError
from mambaicl.nlp.jobs import evaluate_job
from mambaicl.runtime import log_to

try:
    with log_to(snakemake.log[0]):
        evaluate_job(snakemake.wildcards.nlp_model, snakemake.params.location, snakemake.input.tasks,
                     snakemake.params.settings, snakemake.threads, snakemake.output.summary,
                     snakemake.output.predictions, snakemake.output.meta,
                     device=snakemake.params.device)
except MambaICLError as err:  # missing weights, bad local dirs: one line, no stack trace
    sys.exit(f"error: {err}")
