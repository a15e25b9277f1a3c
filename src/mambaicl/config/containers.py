"""Container execution: the config's image for Snakemake's `container:` directive and its checks.

The workflow runs every rule in one Apptainer image (built from the repository's Dockerfile, see the
README's "GPU hosts and containers") when Snakemake is started with --use-singularity / --sdm apptainer;
without that flag the `container:` directive is ignored and jobs run in the host's environment.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ConfigError

DEFAULT_IMAGE = "mambaicl.sif"  # apptainer build mambaicl.sif docker-daemon://mambaicl:0.1.0 (README)
# URI schemes Apptainer can pull from; anything without a scheme is a local image file or sandbox.
IMAGE_SCHEMES = ("docker", "docker-archive", "library", "oras", "shub", "http", "https", "file")
BUILD_HINT = ("build it as the README's 'GPU hosts and containers' says (docker build -t mambaicl:0.1.0 . && "
              "apptainer build mambaicl.sif docker-daemon://mambaicl:0.1.0), or point container_image at an "
              "existing image (--config container_image=PATH_OR_URI)")


def container_image(config: dict) -> str:
    return config.get("container_image", DEFAULT_IMAGE)


def check_container_config(config: dict) -> None:
    """Cross-field check of `container_image` (run by mambaicl.validation)."""
    image = container_image(config)
    if not image.strip() or any(c.isspace() for c in image):
        raise ConfigError(f"config error: 'container_image' = {image!r} is empty or contains whitespace; "
                          "give a path such as mambaicl.sif or a URI such as docker://OWNER/IMAGE:TAG")
    scheme = urlsplit(image).scheme
    # one-letter schemes are Windows drive letters, i.e. local paths
    if len(scheme) > 1 and scheme not in IMAGE_SCHEMES:
        close = difflib.get_close_matches(scheme, IMAGE_SCHEMES, n=1)
        hint = f"; did you mean '{close[0]}://'?" if close else ""
        raise ConfigError(f"config error: 'container_image' = {image!r}: unknown image scheme '{scheme}://'{hint} "
                          f"(Apptainer pulls {', '.join(s + '://' for s in IMAGE_SCHEMES)}; "
                          "a value without a scheme is a local image file)")


def is_local_image(image: str) -> bool:
    return len(urlsplit(image).scheme) <= 1


def check_image_present(image: str, using_apptainer: bool, workdir: str | Path = ".") -> None:
    """Stop before any job when containers are requested but the local image file is missing
    (Apptainer's own error would come per job, after the DAG is built)."""
    if not using_apptainer or not is_local_image(image):
        return
    path = Path(workdir, image)
    if not path.exists():
        raise ConfigError(f"container image '{image}' not found (config key container_image, resolved to "
                          f"{path.resolve()}): {BUILD_HINT}")


# What profiles/default/profile.yaml allows: on one H200, 8 paper-size trainings at once gave 1.72x (Mamba) and
# 2.17x (Transformer) the steps per second of one alone (device check run 1, share phase); a 10M-parameter
# training at batch 64 needs about 1-2 GB, so 8 fit any GPU of 16 GB or more.
DEFAULT_GPU_SLOTS = 8


def execution_summary(device: str, gpu_slots: int | None, image: str, using_apptainer: bool,
                      apptainer_args: str, threads: int | None = None, cores: int | None = None) -> str:
    """One line for the start of a GPU run (dry runs included): how GPU jobs share the device, and
    whether (and with which Apptainer arguments) rules run in the container. (While the Snakefile is
    parsed, Snakemake does not yet know the executor, so the line covers both cases.) With ``threads`` (per
    GPU job) and ``cores`` (Snakemake's --cores) it also says when the cores, not the slots, set how many GPU
    jobs run at once: 8 slots at 4 threads each on 16 cores run 4."""
    if gpu_slots is None:
        local = (f"no gpu_slots limit, so all of them may run at once (profiles/default sets --resources "
                 f"gpu_slots={DEFAULT_GPU_SLOTS})")
    else:
        local = f"at most {gpu_slots} at a time on the GPU (--resources gpu_slots={gpu_slots}; each takes one slot)"
    if threads and cores and (gpu_slots is None or threads * gpu_slots > cores):
        local += (f"; but at threads: {threads} per job, --cores {cores} fits only {max(1, cores // threads)} "
                  f"(raise --cores or lower the config's threads to run more)")
    gpus = f"GPU jobs: each asks a cluster executor for one GPU (gpu=1); locally {local}"
    args = f"apptainer args {apptainer_args!r}" if apptainer_args else "no apptainer args (no --nv: no GPU inside)"
    if using_apptainer:
        box = f"containers: every rule runs in {image}, {args}"
    else:
        box = f"containers: off (--use-singularity runs every rule in {image}, {args})"
    return f"device {device}. {gpus}. {box}."
