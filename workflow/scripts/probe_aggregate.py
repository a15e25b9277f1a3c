from mambaicl.analysis.probing import probe_aggregate_job
from mambaicl.runtime import log_to

with log_to(snakemake.log[0]):
    probe_aggregate_job(snakemake.params.files, snakemake.params.labels, snakemake.params.backbones,
                        snakemake.params.n_dims, snakemake.params.bootstrap, snakemake.output[0])
