from mambaicl.analysis.scaling import forward_scaling_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    forward_scaling_job(dict(snakemake.params.scaling, threads=snakemake.threads), snakemake.params.device,
                        snakemake.output[0])
