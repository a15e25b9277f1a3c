"""GPU cost of the NLP study (spec 7): forward FLOPs and modelled time of every model's prompts on one GPU.
Used by ``benchmarks/cost_model.py``."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .cost import MEM_BW

# Assumption: tokens per demonstration line "example:{x}->{y}\n" under a BPE tokenizer: "example:" 2, input
# 1-3, "->" 1, output 1, newline 1. Measured once with SmolLM2-135M's tokenizer on the rebuilt tasks: 6.9 per
# line (900 5-shot prompts, 41.5 tokens each, longest 70); 8 leaves room for other tokenizers. Prompts are
# length-sorted into batches, so padding is neglected.
NLP_TOKENS_PER_LINE = 8
NLP_TASKS = 18
# Tasks with k + 1 distinct inputs, by k, under the GPT-NeoX tokenizer (spec 7.4): (largest k, tasks)
NLP_TASKS_AT_K = ((16, 18), (64, 14), (128, 12), (256, 9))
FP32_FLOPS = 67e12     # H200 fp32 without tensor cores (the NLP study turns TF32 off: fp32 means fp32)
HALF_FLOPS = 989e12    # H200 dense fp16/bf16 tensor cores
NLP_UTILISATION = 0.4  # assumed fraction of peak reached by forward passes of batched short prompts


def nlp_tasks_at(k: int) -> int:
    return next((n for top, n in NLP_TASKS_AT_K if k <= top), NLP_TASKS_AT_K[-1][1])


def nlp_prompt_tokens(k: int) -> int:
    return (k + 1) * NLP_TOKENS_PER_LINE


@dataclass
class NlpCost:
    model: str
    params: int
    dtype: str
    batch: int
    prompts: int
    tokens: float
    flops: float
    seconds: float
    bound: str  # compute | weights (each batch reads every weight once)


def nlp_costs(config: dict, gpu_memory_gib: float | None = None) -> list[NlpCost]:
    """Forward FLOPs (2 x params x tokens) and modelled GPU time of every NLP model's prompts: ICL (k = shots)
    and zero-shot on 18 tasks, plus the context-length sweep for the swept models (tasks per k: spec 7.4).
    Time: max(FLOPs / (peak at the model's precision x utilisation), batches x weight bytes / bandwidth)."""
    from ..nlp.models import MODELS
    from ..nlp.placement import (
        DEFAULT_GPU_MEMORY_GIB,
        DTYPE_BYTES,
        choose_batch_size,
        choose_dtype,
    )

    nlp = config.get("nlp") or {}
    if not nlp or not nlp.get("enabled", True):
        return []
    budget = gpu_memory_gib or nlp.get("gpu_memory_gib", DEFAULT_GPU_MEMORY_GIB)
    shots, n_icl, n_zero = nlp.get("shots", 5), nlp.get("n_prompts", 400), nlp.get("n_zero_shot", 100)
    sweep = nlp.get("sweep", {})
    out = []
    for m in nlp["models"]:
        spec = MODELS[m]
        requested = nlp.get("dtype", "auto")
        dtype = choose_dtype(spec, "cuda", requested, budget).dtype
        groups = [(shots, NLP_TASKS * n_icl), (0, NLP_TASKS * n_zero)]
        if m in sweep.get("models", []):
            groups += [(k, nlp_tasks_at(k) * sweep.get("n_prompts", 400)) for k in sweep["shots"]]
        prompts = tokens = batches = 0.0
        for k, n in groups:
            setting = nlp.get("batch_size", 16)
            batch = choose_batch_size(spec, dtype, nlp_prompt_tokens(k), budget) if setting == "auto" else int(setting)
            prompts += n
            tokens += n * nlp_prompt_tokens(k)
            batches += math.ceil(n / batch)
        flops = 2.0 * spec.n_params * tokens
        compute = flops / ((FP32_FLOPS if dtype == "float32" else HALF_FLOPS) * NLP_UTILISATION)
        weights = batches * spec.n_params * DTYPE_BYTES[dtype] / MEM_BW
        out.append(NlpCost(m, spec.n_params, dtype, round(prompts / batches), int(prompts), tokens, flops,
                           max(compute, weights), "compute" if compute >= weights else "weights"))
    return out
