# mambaicl: from synthetic data to a compiled replication report.
#
#   snakemake --cores all                                            # paper protocol (needs a CUDA GPU)
#   snakemake --cores all --configfile workflow/config/smoke.yaml    # tiny end-to-end run, any CPU
#   snakemake --cores all results/smoke/paper/generated/figures/error_curves_linear_regression.pdf \
#       --configfile workflow/config/smoke.yaml                      # one figure (target before --configfile)
# Each run's report is results/<run_name>/paper/main.pdf (its generated files beside it, under generated/).
import os
import sys

from snakemake.utils import min_version

from mambaicl.config.invocation import check_start
from mambaicl.errors import ConfigError

min_version("9.0")

DEFAULT_CONFIGFILE = "workflow/config/paper.yaml"
# Started from the repository root (or --directory it), and every config file read strictly: one line
# naming the directory, or the file and line (a duplicate key, broken or empty YAML), before any job.
try:
    check_start(workflow.basedir, os.getcwd(), workflow.overwrite_workdir,
                workflow.overwrite_configfiles or [DEFAULT_CONFIGFILE], workflow.is_main_process)
except ConfigError as err:
    sys.exit(f"error: {err}")

# The paper protocol is the default; a --configfile replaces it (rather than being merged into it).
if not workflow.overwrite_configfiles:

    configfile: DEFAULT_CONFIGFILE


report: "workflow/report/workflow.rst"


# One rules file per stage, mirroring the library's packages (src/mambaicl/<stage>/).
include: "workflow/rules/common.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/nlp.smk"
include: "workflow/rules/paper.smk"


rule all:
    default_target: True
    input:
        PAPER_PDF,  # results/<run_name>/paper/main.pdf
