"""Validate a workflow config before any job: the schema, then every stage's cross-field checks in
pipeline order. Each stage owns the check of its own config section; this module only runs them, so
the dependency points one way (stages never import this module, and ``mambaicl.config`` imports no stage).

Every failure is a ``ConfigError`` with one line naming the key and the fix.

``check_host`` is the other half: what the config asks of this machine (a CUDA GPU, local model folders,
cached hub models when offline). The workflow runs it in ``onstart``, before any job, so that a dry run
still plans the paper config on a laptop.
"""

from __future__ import annotations

from pathlib import Path

from .analysis import claims_config, probe_config, scaling, verdicts
from .config import DEFAULT_SCHEMA, validate_schema
from .config.checks import check_core
from .config.containers import check_container_config
from .errors import DeviceError
from .evaluation import settings
from .nlp.checks import check_nlp_config, check_nlp_host
from .report import macros
from .training import loop

# In pipeline order: a config's first problem in DAG order is the one reported.
STAGE_CHECKS = (
    check_core,                         # tasks, models, experiments (named sizes expanded in place)
    settings.check_task_baselines,      # evaluation: each task's baselines
    settings.expand_and_check,          # evaluation: further prompt sets (ood_suite expanded in place)
    scaling.check_config,               # analysis: the forward-cost benchmark
    check_container_config,             # the container image
    probe_config.check_probing,         # analysis: probing
    check_nlp_config,                   # the NLP study
    loop.check_config,                  # training: precision
    macros.check_config,                # report: reference models, k values
    verdicts.check_config,              # analysis: Park's Table 1
    claims_config.check_config,         # analysis: the claims ledger's model roles
)


def validate(config: dict, schema_path: str | Path = DEFAULT_SCHEMA) -> dict:
    """Validate ``config``: schema first, then every stage's checks. Returns the config, with named
    model sizes and the OOD suite expanded in place into explicit keys."""
    validate_schema(config, schema_path)
    for check in STAGE_CHECKS:
        check(config)
    return config


def check_host(config: dict, nlp_models=None) -> None:
    """What ``config`` needs of this machine, before any job: ``device: cuda`` needs a CUDA GPU; ``scan: kernels``
    or ``scan: triton`` needs those kernels to run here (``models.mamba.check_scan``), ``train.compile`` its
    compiler (``training.compile.check_compile``); the NLP models about to be evaluated (``nlp_models``; None:
    all configured) must be loadable (see ``check_nlp_host``). Raises ``DeviceError`` or ``ConfigError``, one line with the fix."""
    import torch

    if config.get("device") == "cuda" and not torch.cuda.is_available():
        raise DeviceError("config asks for device: cuda, but PyTorch sees no CUDA GPU on this machine: use "
                          "device: auto or device: cpu (e.g. --config device=cpu), or run on a GPU host")
    device_type = "cuda" if config.get("device") != "cpu" and torch.cuda.is_available() else "cpu"
    scan = config.get("scan", "auto")
    if scan in ("kernels", "triton"):  # asked for by name: it must run here (auto and torch always do)
        from .models.mamba import check_scan

        check_scan(scan, device_type)
    compile_mode = config.get("train", {}).get("compile", "eager")
    if compile_mode != "eager":  # graphs needs CUDA, fused a C++ compiler (CPU) or Triton (CUDA)
        from .training.compile import check_compile

        check_compile(compile_mode, device_type)
    check_nlp_host(config, nlp_models)
