"""The ``nlp`` config section's cross-field check, and what it asks of this machine (``check_nlp_host``)."""

from __future__ import annotations

from ..errors import ConfigError, MambaICLError
from .models import MODELS, unavailable_reason
from .placement import DEFAULT_GPU_MEMORY_GIB, choose_dtype


def check_nlp_config(config: dict) -> None:
    """Cross-field checks of the ``nlp`` section (run by mambaicl.validation)."""
    nlp = config.get("nlp")
    if not nlp or not nlp.get("enabled", True):
        return
    for where, names in (("nlp.models", nlp["models"]), ("nlp.sweep.models", nlp.get("sweep", {}).get("models", []))):
        for m in names:
            if m not in MODELS:
                raise ConfigError(f"config error: unknown model '{m}' in {where} (registered: {', '.join(MODELS)})")
    for m in nlp.get("sweep", {}).get("models", []):
        if m not in nlp["models"]:
            raise ConfigError(f"config error: nlp.sweep.models lists '{m}', which is not in nlp.models; add it there")
    for m in nlp.get("local_dirs", {}):
        if m not in MODELS:
            raise ConfigError(f"config error: nlp.local_dirs names unknown model '{m}' (registered: "
                              f"{', '.join(MODELS)})")
    for m in nlp["models"]:
        if MODELS[m].source == "local" and m not in nlp.get("local_dirs", {}):
            raise ConfigError(f"config error: nlp model '{m}' has no hub checkpoint: set nlp.local_dirs.{m} to its "
                              "HF-format directory, or remove it from nlp.models")
    check_nlp_placement(config)


def check_nlp_placement(config: dict) -> None:
    """``nlp.batch_size`` is a whole number >= 1 or ``auto``; with ``device: cuda`` a forced ``nlp.dtype`` must
    fit every model on the GPU (``placement.choose_dtype``; device auto is checked by the job, on the host)."""
    nlp = config["nlp"]
    batch = nlp.get("batch_size", 16)
    if batch != "auto" and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise ConfigError(f"config error: nlp.batch_size must be a whole number >= 1 or auto (chosen per model on "
                          f"a GPU), not {batch!r}")
    if config.get("device") != "cuda":
        return
    shots = max([nlp.get("shots", 5), *nlp.get("sweep", {}).get("shots", [])])
    for m in nlp["models"]:
        try:
            choose_dtype(MODELS[m], "cuda", nlp.get("dtype", "auto"), nlp.get("gpu_memory_gib", DEFAULT_GPU_MEMORY_GIB),
                         seq_len=(shots + 1) * 16)
        except MambaICLError as e:
            raise ConfigError(f"config error: {e}") from None


def check_nlp_host(config: dict, models=None) -> None:
    """Every NLP model about to be evaluated (``models``; None: all of ``nlp.models``) can be loaded here:
    its ``nlp.local_dirs`` entry is a directory, and with the hub offline (HF_HUB_OFFLINE) a hub model is in
    the local hub cache. Run by the workflow's onstart (mambaicl.validation.check_host), not by ``validate``:
    the paper config's LLaMA folders exist only on the machine that runs it, and a dry run plans anywhere."""
    nlp = config.get("nlp")
    if not nlp or not nlp.get("enabled", True):
        return
    for m in nlp["models"]:
        if models is None or m in models:
            reason = unavailable_reason(m, nlp.get("local_dirs"))
            if reason:
                raise ConfigError(reason)
