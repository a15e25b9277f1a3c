"""Effective parameter counts of the configured models, beside the published ones (spec 3.10).

"Effective" counts trainable parameters that receive gradients: GPT-2's unused token table and
Grazzi's frozen zero positional table are not allocated or not counted. Park's released models
that are not GPT-2 allocate an unused 1 x d_model embedding, included in their published counts;
it is subtracted here before comparing.
"""

from __future__ import annotations

import pandas as pd

from ..models import build_model
from ..tasks import task_from_spec

# our backbone (+ variant) -> the reference file's backbone column
_REFERENCE_BACKBONE = {
    ("gpt2", "none"): "gpt2_no_pe",
    ("gpt2", "learned"): "gpt2_learned_pe",
    ("mamba", "rms"): "mamba_rmsnorm",
    ("mamba", "layer"): "mamba_layernorm",
    ("s4", None): "s4d_postnorm",
    ("s4_park", None): "s4d_prenorm",
    ("s4_mamba", None): "s4_mamba",
    ("standard_hybrid", None): "standard_hybrid",
    ("mambaformer", None): "mambaformer",
}


def _variant(spec: dict):
    if spec["backbone"] == "gpt2":
        return spec.get("positional_encoding", "none")
    if spec["backbone"] == "mamba":
        return spec.get("norm", "rms")
    return None


def published_count(spec: dict, token_dim: int, reference: pd.DataFrame) -> tuple[int, str] | None:
    """(published effective count, source) for a configured model, if the reference lists its size."""
    ref_backbone = _REFERENCE_BACKBONE.get((spec["backbone"], _variant(spec)))
    if ref_backbone is None:
        return None
    rows = reference[(reference.backbone == ref_backbone) & (reference.d_model == spec["d_model"])
                     & (reference.n_layer_config == spec["n_layer"]) & (reference.n_dims_in == token_dim)]
    pe_rows = spec.get("max_tokens", 2048) if ref_backbone in ("gpt2_learned_pe", "standard_hybrid") else 0
    rows = rows[rows.pe_rows_counted == pe_rows]
    if rows.empty:
        return None
    row = rows.iloc[0]
    value = int(row.params_effective)
    if row.paper == "park" and not ref_backbone.startswith("gpt2"):
        value -= spec["d_model"]  # Park's MixerModel-based models allocate an unused 1 x d embedding
    return value, f"{row.paper}: {row.config}"


def count_table(models: dict[str, dict], token_dims: dict[str, int], labels: dict[str, str],
                reference: pd.DataFrame) -> pd.DataFrame:
    """One row per configured model: its effective count and the published one where known."""
    rows = []
    for name, spec in models.items():
        count = build_model(spec, token_dim=token_dims[name], seed=0).effective_parameters()
        pub = published_count(spec, token_dims[name], reference)
        rows.append({
            "model": name, "label": labels[name], "backbone": spec["backbone"], "d_model": spec["d_model"],
            "n_layer": spec["n_layer"], "token_dim": token_dims[name], "params": count,
            "published": None if pub is None else pub[0], "published_source": None if pub is None else pub[1],
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Workflow job (workflow/scripts/param_counts.py)


def param_counts_job(models: dict[str, dict], task_specs: dict[str, dict], labels: dict[str, str],
                     reference_csv: str, out_csv: str) -> None:
    """Effective parameter counts of every configured model; ``task_specs`` gives each model's first task."""
    token_dims = {m: task_from_spec(t).token_dim for m, t in task_specs.items()}
    table = count_table(models, token_dims, labels, pd.read_csv(reference_csv))
    table.to_csv(out_csv, index=False)
    print(table.to_string())
