# GPU image for the full replication: CUDA toolchain, PyTorch, mamba-ssm and causal-conv1d built from
# source, this package and the TeX toolchain. Versions match environment.yml.
#
#   docker build -t mambaicl:0.1.0 .
#   apptainer build mambaicl.sif docker-daemon://mambaicl:0.1.0
#
# Not yet built on the project's CI hosts (they have no container engine); see README "GPU hosts".
FROM nvidia/cuda:12.8.1-cudnn-devel-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1

RUN apt-get update && apt-get install -y --no-install-recommends \
        software-properties-common git build-essential ninja-build \
        texlive-latex-recommended latexmk lmodern \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get update && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev \
    && rm -rf /var/lib/apt/lists/*

RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

RUN pip install --upgrade pip setuptools wheel packaging ninja \
    && pip install torch==2.13.0

# Their setup scripts otherwise try to download prebuilt wheels, which fails offline and on
# unknown torch/CUDA pairs; --no-build-isolation because metadata preparation imports torch.
ENV MAMBA_FORCE_BUILD=TRUE \
    CAUSAL_CONV1D_FORCE_BUILD=TRUE \
    TORCH_CUDA_ARCH_LIST="8.0;8.6;8.9;9.0"
RUN pip install --no-build-isolation causal-conv1d==1.7.0 mamba-ssm==2.3.2.post1

COPY pyproject.toml README.md /opt/mambaicl/
COPY src /opt/mambaicl/src
RUN pip install -e "/opt/mambaicl[test]" \
        numpy==2.4.6 scipy==1.17.1 pandas==3.1.1 matplotlib==3.11.2 seaborn==0.13.2 pyyaml==6.0.3 \
        jsonschema==4.26.0 scikit-learn==1.9.1 xgboost==3.2.0 transformers==5.23.0 snakemake==9.27.1 \
        tqdm==4.70.1 pytest==9.2.0 pytest-xdist==3.8.0

WORKDIR /work
