"""Backbones by config name, and the builder that wraps one into an in-context regression model."""

from __future__ import annotations

from typing import Callable

import torch

from . import mamba, rwkv
from .base import Backbone, ICLModel
from .transformer import GPT2Backbone
from .mamba import build_mamba
from .hybrids import build_mambaformer, build_standard_hybrid
from .rwkv import build_rwkv
from .s4 import build_s4, build_s4_mamba, build_s4_park


def _gpt2(spec: dict) -> Backbone:
    return GPT2Backbone(
        d_model=spec["d_model"],
        n_layer=spec["n_layer"],
        n_head=spec["n_head"],
        positional_encoding=spec.get("positional_encoding", "none"),
        max_tokens=spec.get("max_tokens", 2048),
    )


BACKBONES: dict[str, Callable[[dict], Backbone]] = {
    "gpt2": _gpt2,
    "mamba": build_mamba,
    "standard_hybrid": build_standard_hybrid,
    "mambaformer": build_mambaformer,
    "s4": build_s4,
    "s4_park": build_s4_park,
    "s4_mamba": build_s4_mamba,
    "rwkv": build_rwkv,
}


# Optional spec keys each backbone reads (besides backbone, d_model, n_layer); config validation
# rejects any other key for that backbone, so a key that would be silently ignored is an error.
BACKBONE_OPTIONS: dict[str, frozenset[str]] = {
    "gpt2": frozenset({"n_head", "positional_encoding", "max_tokens"}),
    "mamba": frozenset({"norm", "residual_in_fp32", "d_state", "d_conv", "expand"}),
    "standard_hybrid": frozenset({"n_head", "max_tokens", "norm", "residual_in_fp32", "d_state", "d_conv", "expand"}),
    "mambaformer": frozenset({"n_head", "norm", "residual_in_fp32", "d_state", "d_conv", "expand"}),
    "s4": frozenset({"d_state", "dropout"}),
    "s4_park": frozenset({"d_state", "dropout"}),
    "s4_mamba": frozenset({"d_state", "d_conv", "expand", "dropout"}),
    "rwkv": frozenset({"ffn_mult"}),
}
# Attention heads default to 8 where the key is optional (Park hard-codes 8 in the hybrids).
DEFAULT_N_HEAD = {"standard_hybrid": 8, "mambaformer": 8}


# Named sizes (Grazzi et al.'s standard / small / tiny); RWKV's are ours, matched to GPT-2's parameter
# count. A config's `size: small` fills these keys unless the entry sets them itself.
SIZE_PRESETS: dict[str, dict[str, dict]] = {
    "gpt2": {"standard": {"d_model": 256, "n_layer": 12, "n_head": 8},
             "small": {"d_model": 128, "n_layer": 6, "n_head": 4},
             "tiny": {"d_model": 64, "n_layer": 3, "n_head": 2}},
    "mamba": {"standard": {"d_model": 256, "n_layer": 24}, "small": {"d_model": 128, "n_layer": 12},
              "tiny": {"d_model": 64, "n_layer": 6}},
    "s4": {"standard": {"d_model": 435, "n_layer": 24, "d_state": 64},
           "small": {"d_model": 128, "n_layer": 12, "d_state": 64},
           "tiny": {"d_model": 64, "n_layer": 6, "d_state": 64}},
    "rwkv": {"standard": {"d_model": 256, "n_layer": 12}, "small": {"d_model": 128, "n_layer": 6},
             "tiny": {"d_model": 64, "n_layer": 3}},
}


def max_tokens_of(spec: dict) -> int | None:
    """Longest token sequence a configured model can read (None: unlimited), without building it."""
    if spec["backbone"] == "gpt2" and spec.get("positional_encoding", "none") == "learned":
        return spec.get("max_tokens", 2048)
    if spec["backbone"] == "standard_hybrid":
        return spec.get("max_tokens", 2048)
    return None


def build_model(model_spec: dict, token_dim: int, seed: int, out_dim: int = 1) -> ICLModel:
    """Build and initialise a model from its config entry; the init draws only from ``seed``."""
    name = model_spec["backbone"]
    if name not in BACKBONES:
        raise KeyError(f"unknown backbone '{name}'; known backbones: {', '.join(sorted(BACKBONES))}")
    model = ICLModel(BACKBONES[name](model_spec), token_dim=token_dim, out_dim=out_dim)
    model.reset_parameters(torch.Generator().manual_seed(seed))
    return model


def keep_loops_eager() -> None:
    """Make ``torch.compile`` run the own Mamba scan and RWKV's WKV eagerly (``torch.compiler.disable``): traced,
    their loops over time would become one graph node per time step, slow to compile and to run. Called before
    compiling (``training.compile.compile_step``), not at import: ``torch.compiler.disable`` imports
    ``torch._dynamo``, about 3 s more for every job that imports the models. Both are called through their
    module's global name, so the wrapped function is the one every model calls from then on; idempotent."""
    for module, name in ((mamba, "selective_scan_time_major"), (rwkv, "wkv")):
        fn = getattr(module, name)
        if not getattr(fn, "_mambaicl_eager", False):
            eager = torch.compiler.disable(fn, reason="its loop over time would be unrolled into the graph")
            eager._mambaicl_eager = True
            setattr(module, name, eager)


__all__ = ["BACKBONES", "BACKBONE_OPTIONS", "SIZE_PRESETS", "Backbone", "ICLModel", "build_model",
           "keep_loops_eager", "max_tokens_of"]
