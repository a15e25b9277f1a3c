# mambaicl: from synthetic data to a compiled replication report.
#
#   snakemake --cores all                                            # paper protocol (needs a CUDA GPU)
#   snakemake --cores all --configfile workflow/config/smoke.yaml    # tiny end-to-end run, any CPU
#   snakemake --cores all results/smoke/paper/generated/figures/error_curves_linear_regression.pdf \
#       --configfile workflow/config/smoke.yaml                      # one figure (target before --configfile)
# Each run's report is results/<run_name>/paper/main.pdf (its generated files beside it, under generated/).
from snakemake.utils import min_version

min_version("9.0")

# The paper protocol is the default; a --configfile replaces it (rather than being merged into it).
if not workflow.overwrite_configfiles:

    configfile: "workflow/config/paper.yaml"


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
