# mambaicl: from synthetic data to a compiled replication report.
#
#   snakemake --cores all                                            # paper protocol (needs a CUDA GPU)
#   snakemake --cores all --configfile workflow/config/smoke.yaml    # tiny end-to-end run, any CPU
#   snakemake --cores all paper/generated/figures/error_curves_linear_regression.pdf   # one figure
from snakemake.utils import min_version

min_version("9.0")

# The paper protocol is the default; a --configfile replaces it (rather than being merged into it).
if not workflow.overwrite_configfiles:

    configfile: "workflow/config/paper.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/settings.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/benchmarks.smk"
include: "workflow/rules/probing.smk"
include: "workflow/rules/nlp.smk"
include: "workflow/rules/paper.smk"


rule all:
    default_target: True
    input:
        "paper/main.pdf",
