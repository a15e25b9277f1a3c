"""Where and how each NLP model runs: its precision and batch size on a GPU, and which Mamba path it takes.

Pure rules from a model's architecture facts (``models.ModelSpec``: parameters, width, depth, heads) and the GPU
memory budget (``nlp.gpu_memory_gib``, default one H200):

* **Precision** (``choose_dtype``). On CPU: fp32 (or the config's ``nlp.dtype``), as always. On CUDA with
  ``nlp.dtype: auto``: fp32, G's precision (spec 7.3), when the fp32 weights plus one sequence's activations fit
  in the usable memory, ``(1 - HEADROOM)`` x the budget; otherwise ``HALF_DTYPE`` (fp16). The headroom keeps
  room for the CUDA context and cuBLAS workspaces, the allocator's fragmentation and a checkpoint shard in
  flight while the weights load. On one H200 (139 GiB, 118 GiB usable) only LLaMA 30B (32.5B parameters,
  121 GiB in fp32) runs in fp16.
* **Why fp16, not bf16.** Hendel et al. ran every Transformer of the study (LLaMA included) in fp16, so the
  reference numbers the half-precision model is compared with are fp16 numbers; fp16 keeps 10 mantissa bits
  against bf16's 7, so its logits, and the greedy token, stay closer to fp32's; LLaMA-1's weights are
  distributed in fp16 and their activations stay within its range (Hendel et al.'s runs).
* **Batch size** (``choose_batch_size``, CUDA with ``nlp.batch_size: auto``). The largest power of two, at most
  ``MAX_BATCH``, whose activations fit beside the weights in the usable memory, from the longest prompt's token
  count (``activation_bytes``); at least 1. A number in ``nlp.batch_size`` is used as given, everywhere; ``auto``
  on CPU is ``CPU_BATCH``, the former default.

Results do not depend on the batch size beyond float tolerance: prompts are left-padded with the attention
mask (and position ids from the first real token) passed, which masks the pads exactly for the Transformers
and for transformers' Mamba (it zeroes padded positions before the convolution and the scan); RWKV ignores
the mask, so its batches hold prompts of one token length only (``evaluate.ignores_padding_mask``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..errors import MambaICLError
from .models import ModelSpec

GIB = 2 ** 30
DEFAULT_GPU_MEMORY_GIB = 139.0   # one H200: 141 GB of HBM3e, about 139 GiB free to PyTorch
HEADROOM = 0.15                  # of the budget, kept free (see the module docstring)
HALF_DTYPE = "float16"
MAX_BATCH = 64                   # beyond it the GPU is already busy; length-sorted batches pad little
CPU_BATCH = 16                   # nlp.batch_size: auto on CPU (the former default; a CPU gains nothing from more)
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
DTYPES = ("auto", *DTYPE_BYTES)
# Transient activations of one layer per token, in units of d_model values (inference keeps no graph, so one
# layer's tensors are alive at a time): residual, norm, q/k/v/out or Mamba's 2 x 2d projections, an MLP of up to
# 8d (gated, 2 x 8/3 d) and spare. Mamba adds the reference scan's discretised A and B.x, (d_inner, d_state) fp32
# each per token (3 such tensors counted); the mamba-ssm kernels never materialise them, so this over-estimates there.
LAYER_WIDTH = 24
MAMBA_D_STATE = 16
MAMBA_SCAN_TENSORS = 3


@dataclass(frozen=True)
class DtypeChoice:
    dtype: str      # float32 | float16 | bfloat16
    reason: str     # one line, for the log and meta.json


def weight_bytes(spec: ModelSpec, dtype: str) -> int:
    return spec.n_params * DTYPE_BYTES[dtype]


def usable_bytes(gpu_memory_gib: float) -> float:
    return (1.0 - HEADROOM) * gpu_memory_gib * GIB


def activation_bytes(spec: ModelSpec, dtype: str, seq_len: int, batch: int = 1) -> float:
    """Peak activation bytes of one forward pass of ``batch`` sequences of ``seq_len`` tokens (no cache, last
    position's logits only): one layer's transient tensors, eager attention's score matrix, the last logits."""
    b = DTYPE_BYTES[dtype]
    per_token = LAYER_WIDTH * spec.d_model * b
    if spec.family in ("mamba", "tiny_mamba"):
        per_token += MAMBA_SCAN_TENSORS * 2 * spec.d_model * MAMBA_D_STATE * 4
    scores = spec.n_heads * seq_len * seq_len * max(b, 4)  # softmax may upcast to fp32
    logits = 4 * 65_536  # fp32 logits of the last position, a vocabulary of up to 64k
    return batch * (seq_len * per_token + scores + logits)


def fits(spec: ModelSpec, dtype: str, seq_len: int, gpu_memory_gib: float) -> bool:
    """Weights in ``dtype`` plus one sequence's activations fit in the usable GPU memory."""
    return weight_bytes(spec, dtype) + activation_bytes(spec, dtype, seq_len) <= usable_bytes(gpu_memory_gib)


def choose_dtype(spec: ModelSpec, device_type: str, requested: str = "auto",
                 gpu_memory_gib: float = DEFAULT_GPU_MEMORY_GIB, seq_len: int = 512) -> DtypeChoice:
    """The precision ``spec`` runs in (rule: module docstring). ``requested``: the config's ``nlp.dtype``.
    Raises MambaICLError when fp32 is asked for on a GPU it does not fit."""
    if requested not in DTYPES:
        raise MambaICLError(f"nlp.dtype must be one of {', '.join(DTYPES)}, not {requested!r}")
    if device_type != "cuda":
        dtype = "float32" if requested == "auto" else requested
        return DtypeChoice(dtype, "CPU: fp32" if requested == "auto" else f"nlp.dtype: {requested}")
    gib = weight_bytes(spec, "float32") / GIB
    budget = f"{usable_bytes(gpu_memory_gib) / GIB:.0f} GiB usable of nlp.gpu_memory_gib {gpu_memory_gib:g}"
    if requested != "auto":
        if requested == "float32" and not fits(spec, "float32", seq_len, gpu_memory_gib):
            raise MambaICLError(f"nlp.dtype: float32, but {spec.label}'s fp32 weights ({gib:.0f} GiB) and "
                                f"activations exceed the GPU's {budget}: use nlp.dtype: auto (fp16 for the models "
                                "that do not fit) or a GPU with more memory")
        return DtypeChoice(requested, f"nlp.dtype: {requested}")
    if fits(spec, "float32", seq_len, gpu_memory_gib):
        return DtypeChoice("float32", f"fp32 fits: {gib:.1f} GiB of weights, {budget}")
    if not fits(spec, HALF_DTYPE, seq_len, gpu_memory_gib):
        raise MambaICLError(f"{spec.label} does not fit on the GPU even in {HALF_DTYPE} "
                            f"({weight_bytes(spec, HALF_DTYPE) / GIB:.0f} GiB of weights, {budget})")
    return DtypeChoice(HALF_DTYPE, f"fp32 does not fit ({gib:.0f} GiB of weights, {budget}): {HALF_DTYPE}")


def choose_batch_size(spec: ModelSpec, dtype: str, seq_len: int,
                      gpu_memory_gib: float = DEFAULT_GPU_MEMORY_GIB) -> int:
    """Largest power of two <= MAX_BATCH whose activations at ``seq_len`` tokens fit beside the weights."""
    free = usable_bytes(gpu_memory_gib) - weight_bytes(spec, dtype)
    per_sequence = activation_bytes(spec, dtype, seq_len)
    batch = 1
    while batch * 2 <= MAX_BATCH and (batch * 2) * per_sequence <= free:
        batch *= 2
    return batch


def batch_rule(setting, spec: ModelSpec, dtype: str, device_type: str, gpu_memory_gib: float):
    """The batch size as ``predict_first_tokens`` takes it: the configured number, or (``auto``) a function of
    the longest prompt's token count: ``choose_batch_size`` on CUDA, ``CPU_BATCH`` on CPU."""
    if setting != "auto":
        return int(setting)
    if device_type != "cuda":
        return CPU_BATCH
    return lambda seq_len: choose_batch_size(spec, dtype, seq_len, gpu_memory_gib)


# ---------------------------------------------------------------------------------------------------
# Mamba's kernel path in transformers


def mamba_kernels_available() -> tuple[bool, str]:
    """Whether transformers' ``MambaForCausalLM`` runs mamba-ssm's and causal-conv1d's CUDA kernels, and how that
    was read. transformers 4.x: the module flag ``is_fast_path_available`` (used when the weights are on CUDA).
    transformers 5.x has no such flag: each op (``mamba_selective_scan``, ``causal_conv1d_fn``) is resolved once,
    at import, to the package's kernel when it imports, else to its PyTorch reference; the wrapper's closure
    holds the outcome (``is_new_implementation``), read here."""
    try:
        mm = importlib.import_module("transformers.models.mamba.modeling_mamba")
    except ImportError as e:  # pragma: no cover - transformers is a dependency
        return False, f"transformers' Mamba module does not import ({e})"
    if hasattr(mm, "is_fast_path_available"):
        return bool(mm.is_fast_path_available), "transformers' is_fast_path_available"
    flags = {name: _closure_value(getattr(mm, name, None), "is_new_implementation")
             for name in ("mamba_selective_scan", "causal_conv1d_fn")}
    if None in flags.values():  # another layout: ask the packages themselves, as transformers 5.x does
        flags = {"mamba_selective_scan": _imports("mamba_ssm.ops.selective_scan_interface", "selective_scan_fn"),
                 "causal_conv1d_fn": _imports("causal_conv1d", "causal_conv1d_fn")}
        return all(flags.values()), "mamba_ssm and causal_conv1d import"
    return all(flags.values()), "transformers' resolved kernel functions (" + ", ".join(
        f"{k}: {'kernel' if v else 'PyTorch'}" for k, v in flags.items()) + ")"


def _closure_value(fn, name: str):
    """The value of free variable ``name`` in ``fn``'s closure (following ``__wrapped__``), or None."""
    seen = 0
    while fn is not None and seen < 5:
        code, closure = getattr(fn, "__code__", None), getattr(fn, "__closure__", None)
        if code is not None and closure and name in code.co_freevars:
            return closure[code.co_freevars.index(name)].cell_contents
        fn, seen = getattr(fn, "__wrapped__", None), seen + 1
    return None


def _imports(module: str, attr: str) -> bool:
    try:
        return getattr(importlib.import_module(module), attr, None) is not None
    except Exception:  # mamba_ssm raises more than ImportError without its CUDA extension (spec 9.2)
        return False


KERNEL_INSTALL = ("MAMBA_FORCE_BUILD=TRUE CAUSAL_CONV1D_FORCE_BUILD=TRUE pip install --no-build-isolation "
                  "--no-deps causal-conv1d==1.7.0 mamba-ssm==2.3.2.post1 (README: GPU hosts and containers)")


def mamba_path(model_type: str, device_type: str) -> tuple[str | None, str | None]:
    """(path, warning) of a loaded model: None, None unless it is a Mamba. Path: ``kernels`` (mamba-ssm's CUDA
    kernels), ``reference`` (transformers' PyTorch scan). The warning names the install step when a Mamba runs
    on CUDA without the kernels: correct, but far slower."""
    if model_type != "mamba":
        return None, None
    if device_type != "cuda":
        return "reference", None
    fast, how = mamba_kernels_available()
    if fast:
        return "kernels", None
    return "reference", (f"WARNING: Mamba runs on CUDA without mamba-ssm's kernels ({how}): transformers' "
                         f"PyTorch scan gives the same tokens, far slower. Install them with {KERNEL_INSTALL}")
