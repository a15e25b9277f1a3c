"""Which of a config's runs the claims ledger reads (``analysis.claims``): Grazzi's model roles and task
instances, from the config alone (the rules use it to name the ledger's inputs)."""

from __future__ import annotations

from ..config import model_label, models_of, suggest, task_spec, trained_tasks
from ..errors import ConfigError
from .claims import G_TASKS

ROLES = ("transformer", "mamba", "s4", "rwkv")


def _trained(config: dict) -> dict[str, list[str]]:
    """task instance -> models trained on it, in config order."""
    return {t: models_of(config, t) for t in trained_tasks(config)}


def claim_roles(config: dict) -> dict[str, str | None]:
    """Grazzi's roles -> our model. ``report.claims.models`` wins; else the Transformer is
    ``report.reference_models.transformer_no_pe`` (or, lacking one, ``transformer_learned_pe``: the claims
    text then names its label), Mamba ``report.reference_models.mamba``, S4 and RWKV the first trained model
    with backbone s4 / rwkv."""
    given = config["report"].get("claims", {}).get("models", {})
    ref = config["report"].get("reference_models", {})
    trained = {m for ms in _trained(config).values() for m in ms}
    by_backbone = {}
    for m in config["models"]:
        if m in trained:
            by_backbone.setdefault(config["models"][m]["backbone"], m)
    roles = {"transformer": ref.get("transformer_no_pe", ref.get("transformer_learned_pe")),
             "mamba": ref.get("mamba", by_backbone.get("mamba")),
             "s4": by_backbone.get("s4"), "rwkv": by_backbone.get("rwkv")}
    roles.update(given)
    return {r: roles.get(r) for r in ROLES}


def claim_tasks(config: dict, roles: dict) -> dict[str, dict]:
    """G's four tasks -> the first configured instance (of that generator) that trains Grazzi's Mamba,
    with its training and evaluation lengths and its trained models."""
    trained = _trained(config)
    out = {}
    for registry in G_TASKS:
        candidates = [t for t in trained if task_spec(config, t)["name"] == registry]
        inst = next((t for t in candidates if roles.get("mamba") in trained[t]), candidates[0] if candidates else None)
        if inst is None:
            continue
        t = config["tasks"][inst]
        out[registry] = {"instance": inst, "models": trained[inst], "train_points": t["curriculum"]["points"]["end"],
                         "eval_points": t["eval_points"],
                         "labels": {m: model_label(config, m) for m in trained[inst]}}
    return out


def check_config(config: dict) -> None:
    """``report.claims.models`` maps known roles to configured models."""
    for role, model in config["report"].get("claims", {}).get("models", {}).items():
        if role not in ROLES:
            raise ConfigError(f"config error: 'report.claims.models.{role}': unknown role{suggest(role, ROLES)}; "
                              f"roles: {', '.join(ROLES)}")
        if model not in config["models"]:
            raise ConfigError(f"config error: 'report.claims.models.{role}': no model '{model}' is configured"
                              f"{suggest(model, config['models'])}")
