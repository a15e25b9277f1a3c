"""The ``nlp`` config section's cross-field check, and what it asks of this machine (``check_nlp_host``)."""

from __future__ import annotations

from ..errors import ConfigError
from .models import MODELS, unavailable_reason


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
