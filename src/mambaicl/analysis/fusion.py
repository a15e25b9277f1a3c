"""What ``train.compile`` (inductor) fuses in a training step, counted on the CPU (issue 16, item 1).

For the cost model's compiled path: one training step's forward, loss and backward run twice on the CPU, eagerly
and compiled by inductor, and counted alike:

* **eager**: every aten op that runs a kernel (views, allocations and scalar reads left out) and the bytes it moves
  (its tensor inputs read, its outputs written), seen by a ``TorchDispatchMode``; ``F.rms_norm`` counted as one op
  each way, as CUDA runs it (the CPU decomposes it);
* **compiled**: inductor's own count of the kernels it generated or called (scheduler nodes after fusion that move
  bytes, matmuls and other extern kernels included) and their bytes (``GraphLowering.count_bytes``, what
  inductor's metrics log reports), over the forward and backward graphs.

The custom kernels the GPU runs (mamba-ssm's selective scan and causal-conv1d; RWKV's WKV on Triton) are opaque to
inductor: here they are stand-ins registered as custom ops (``torch.library``, computed by the plain-PyTorch
reference), one op each way, counted as one kernel reading its inputs and writing its outputs in both counts, as
the GPU kernels are. The step must compile to one forward and one backward graph (no graph break), so that each
graph runs once per step: a break would make inductor's per-compile count differ from what runs, and is an error.

These are the CPU code generator's fusion decisions (C++), a proxy for the CUDA one's (Triton): the same
scheduler fuses both, with backend-specific limits; the device check's compile phase measures the real thing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

# aten ops that launch no kernel and move no bytes: views (``_unsafe_view`` too, which autograd does not treat as
# one: a reshape's copy is the ``clone`` before it), allocations, scalar reads, dtype queries. The eager count skips
# them (and every op whose schema is a view); benchmarks/bench_pack.py's profiler count too.
NO_KERNEL = {"aten::as_strided", "aten::view", "aten::_unsafe_view", "aten::empty", "aten::empty_strided",
             "aten::resolve_conj", "aten::resolve_neg", "aten::result_type", "aten::_local_scalar_dense", "aten::to",
             "aten::alias", "aten::detach", "aten::lift_fresh", "aten::set_"}


@dataclass(frozen=True)
class FusionCount:
    """One training step (forward, loss, backward; no optimiser) counted eagerly and compiled."""
    backbone: str
    d_model: int
    n_layer: int
    batch: int
    tokens: int
    eager_kernels: int
    eager_bytes: int
    compiled_kernels: int
    compiled_bytes: int
    opaque_kernels: int = 0   # custom-kernel stand-ins among both counts (forward and backward calls)

    @property
    def kernel_ratio(self) -> float:
        return self.compiled_kernels / self.eager_kernels

    @property
    def byte_ratio(self) -> float:
        return self.compiled_bytes / self.eager_bytes


class _EagerCount(torch.utils._python_dispatch.TorchDispatchMode):
    """Ops that run a kernel, and the bytes each reads and writes (every distinct tensor argument and output)."""

    def __init__(self):
        super().__init__()
        self.kernels = 0
        self.bytes = 0
        self.opaque = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func._schema.name
        if func.is_view or name in NO_KERNEL:
            return out
        seen, moved = set(), 0
        for t in torch.utils._pytree.tree_leaves((args, kwargs, out)):
            if isinstance(t, torch.Tensor) and id(t) not in seen:
                seen.add(id(t))
                moved += t.numel() * t.element_size()
        self.kernels += 1
        self.bytes += moved
        self.opaque += name.startswith(f"{OPAQUE_NS}::") and "rms_norm" not in name
        return out


@contextmanager
def _rms_norm_as_one_kernel():
    """``F.rms_norm`` as one op each way for the eager count: CUDA runs it as one fused kernel forward and one
    backward, the CPU decomposes it into six elementwise ops and a reduction."""
    op = opaque("rms_norm", lambda x, w: _RMS_NORM(x, x.shape[-1:], w), 2)
    torch.nn.functional.rms_norm = lambda x, shape, weight=None, eps=None: op(x, weight)
    try:
        yield
    finally:
        torch.nn.functional.rms_norm = _RMS_NORM


@contextmanager
def _inductor_metrics():
    """Inductor's kernel and byte counts of what it compiles inside the block (its metrics log enabled, silenced;
    caches off so every graph is really compiled). Yields a dict filled on exit: kernels, bytes."""
    import torch._inductor.compile_fx as compile_fx
    import torch._inductor.config as inductor_config
    from torch._inductor import metrics

    log = compile_fx.inductor_metrics_log
    saved = (log.level, log.propagate, inductor_config.fx_graph_cache, inductor_config.force_disable_caches)
    handler = logging.NullHandler()
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(handler)
    inductor_config.fx_graph_cache, inductor_config.force_disable_caches = False, True
    metrics.reset()
    got: dict = {}
    try:
        yield got
        got["kernels"] = sum(1 for _, elems in metrics.nodes_num_elem if elems > 0)
        got["bytes"] = int(metrics.num_bytes_accessed)
    finally:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate = saved[1]
        inductor_config.fx_graph_cache, inductor_config.force_disable_caches = saved[2], saved[3]
        metrics.reset()


def count_step(loss_fn: Callable[[], torch.Tensor], params: list[torch.Tensor]) -> tuple[dict, dict]:
    """(eager, compiled) counts of ``loss_fn()`` and its backward into ``params``; compiled with inductor, static
    shapes, as ``train.compile: fused`` compiles. Raises if the step does not compile to one graph."""
    import torch._dynamo

    with _rms_norm_as_one_kernel(), _EagerCount() as eager:
        loss_fn().backward()
    for p in params:
        p.grad = None
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    compiled = torch.compile(loss_fn, dynamic=False, backend="inductor")
    with _inductor_metrics() as got:
        compiled().backward()
    breaks = sum(torch._dynamo.utils.counters["graph_break"].values())
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    if breaks or graphs != 1:
        raise RuntimeError(f"the step compiled to {graphs} graphs with {breaks} graph breaks "
                           f"({dict(torch._dynamo.utils.counters['graph_break'])}); the fusion count needs one graph")
    torch._dynamo.reset()
    return ({"kernels": eager.kernels, "bytes": eager.bytes, "opaque": eager.opaque}, got)


# ---------------------------------------------------------------------------------------------------
# the GPU's custom kernels as opaque custom ops on the CPU

OPAQUE_NS = "mambaicl_fusion"
_RMS_NORM = torch.nn.functional.rms_norm
_OPS: dict[str, Callable] = {}


def opaque(name: str, reference: Callable, n_inputs: int, like: int = 0) -> Callable:
    """``reference`` (``n_inputs`` tensors -> one tensor shaped as input ``like``, plain PyTorch) as an opaque
    custom op with a backward op, each one kernel to the eager count and one extern kernel to inductor. The
    backward op returns zeros of the inputs' shapes: the counts depend on shapes only. Registered once per name."""
    if name in _OPS:
        return _OPS[name]
    lib = f"{OPAQUE_NS}::{name}"

    @torch.library.custom_op(lib, mutates_args=())
    def forward(inputs: list[torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            return reference(*inputs).contiguous().clone()

    @forward.register_fake
    def _(inputs):
        return inputs[like].new_empty(inputs[like].shape)  # contiguous, as the forward returns

    @torch.library.custom_op(f"{lib}_backward", mutates_args=())
    def backward(inputs: list[torch.Tensor], grad: torch.Tensor) -> list[torch.Tensor]:
        # shapes are what is counted, not values: zero gradients of the inputs' shapes (a custom op runs below
        # autograd, where the reference's own backward cannot be recorded)
        return [x.new_zeros(x.shape) for x in inputs]

    @backward.register_fake
    def _(inputs, grad):
        return [x.new_empty(x.shape) for x in inputs]

    def setup(ctx, inputs, output):
        ctx.save_for_backward(*inputs[0])

    def grad_fn(ctx, grad):
        return (backward(list(ctx.saved_tensors), grad),)

    forward.register_autograd(grad_fn, setup_context=setup)

    def call(*inputs):
        assert len(inputs) == n_inputs, (name, len(inputs))
        return forward(list(inputs))

    _OPS[name] = call
    return call


# ---------------------------------------------------------------------------------------------------
# the committed measurement file


def write_counts(path: Path, counts: list[FusionCount], meta: dict) -> None:
    """JSON with a checksum of its rows: ``{"meta": ..., "rows": [...], "sha256": ...}``."""
    rows = [asdict(c) for c in counts]
    body = json.dumps(rows, sort_keys=True)
    path.write_text(json.dumps({"meta": meta, "rows": rows, "sha256": hashlib.sha256(body.encode()).hexdigest()},
                               indent=1) + "\n")


def read_counts(path: Path) -> dict[str, FusionCount]:
    """The measurement file's rows by backbone and width (``"mamba@256"``); a missing, damaged or edited file is an
    error naming it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        rows = data["rows"]
        ok = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest() == data["sha256"]
        counts = [FusionCount(**{f.name: r[f.name] for f in fields(FusionCount)}) for r in rows]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"fusion counts {path}: unreadable ({e}); measure them again with "
                         "`python benchmarks/bench_fusion.py`") from None
    if not ok:
        raise ValueError(f"fusion counts {path}: checksum mismatch (the rows were edited or damaged); measure them "
                         "again with `python benchmarks/bench_fusion.py`")
    return {f"{c.backbone}@{c.d_model}": c for c in counts}
