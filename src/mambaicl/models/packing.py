"""What lets K models of one shape run as one vmapped forward (``training.pack``): the run dimension.

``training.pack`` stacks K runs' parameters and calls ``torch.func.vmap(functional_call(...))`` over the run
dimension. Plain PyTorch ops batch by themselves; two things in the models need help:

- our custom autograd Functions (``mamba._SelectiveScanFn``, ``rwkv.WKV`` and the Triton ones) have no vmap rule
  (torch asks for ``setup_context`` style). ``per_run(fn, *args)`` calls ``fn`` directly outside vmap (the
  unpacked path, unchanged) and, inside vmap, through ``_PerRun``, whose vmap rule calls ``fn`` once per run on
  that run's slices and stacks the results: exact (each run runs today's code on its own tensors) and
  differentiable (autograd records the per-run calls below the vmap level, so each Function's own backward
  runs). The loop is over K runs per layer, not per time step, so every other op of the step stays batched.
  Where the Function is per channel, as RWKV's WKV (w, u per channel; k, v per (batch, time, channel)),
  ``per_channel`` folds the K runs into the channel dimension instead: one call for all runs, exact. Mamba's
  selective scan is per channel too, but its B and C are shared by the channels of one run: ``fold_runs``
  generalises the fold (one mechanism, ``_FoldRuns``): each argument names its channel dimension, into which the
  runs fold run-major (run r's channels become r C .. (r + 1) C - 1), or ``GROUP`` for B and C, whose runs become
  a new group dimension (batch, K, d_state, L), the grouped layout mamba-ssm's and the Triton scan take (channel
  c reads group c // C). One launch per layer for all K runs; each run's b examples stay at batch 0 .. b - 1.
- S4's ``ChannelDropout`` draws masks from a generator: in a pack each run keeps its own dropout generator.
  ``set_pack_dropout_generators`` gives every dropout module the K generators; ``run_index_scope`` makes the
  vmapped run index visible to them; ``stacked_uniform`` draws one tensor from each generator, in run order, at
  the same call and with the same shape as the unpacked run would, and ``pick_run`` picks the current run's with
  the (batched) run index. Each run's mask stream is therefore exactly its unpacked one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

_run_index: torch.Tensor | None = None  # inside the pack's vmapped forward: the run index, one per run


def is_batched(t) -> bool:
    """True for a tensor seen inside ``torch.func.vmap`` (a batched view of the stacked runs)."""
    return isinstance(t, torch.Tensor) and torch._C._functorch.is_batchedtensor(t)


class _VmapOnly(torch.autograd.Function):
    """A Function that exists only for its vmap rule (the subclasses'): outside vmap the callers call ``fn``
    directly. ``setup_context`` is what functorch requires of a Function with a vmap rule; nothing is saved,
    because autograd records the ops the rule runs below the vmap level."""

    @staticmethod
    def forward(fn, *args):  # pragma: no cover - only the vmap rule runs
        raise RuntimeError("this Function runs only inside torch.func.vmap; call per_run(), per_channel() or "
                           "fold_runs()")

    @staticmethod
    def setup_context(ctx, inputs, output):  # pragma: no cover - nothing to save
        pass


class _PerRun(_VmapOnly):
    """``fn(*args)`` per run under vmap; never called outside vmap (``per_run`` calls ``fn`` directly there)."""

    @staticmethod
    def vmap(info, in_dims, fn, *args):
        dims = in_dims[1:]
        outs = [fn(*(a if d is None else a.select(d, r) for a, d in zip(args, dims)))
                for r in range(info.batch_size)]
        return torch.stack(outs), 0


def per_run(fn: Callable[..., torch.Tensor], *args) -> torch.Tensor:
    """``fn(*args)``; inside a pack's vmap, ``fn`` once per run on that run's slices (see the module doc).
    ``fn`` returns one tensor; non-tensor and unbatched arguments are passed to every run as they are."""
    if any(is_batched(a) for a in args):
        return _PerRun.apply(fn, *args)
    return fn(*args)


GROUP = "group"  # a fold_runs layout entry: the runs become a new dimension here (B, C: grouped per run)


class _FoldRuns(_VmapOnly):
    """``fn`` once for all runs under vmap; ``layout`` gives, per argument, how its runs fold: an int (its
    channel dimension in the per-run view, the runs folded into it run-major), ``GROUP`` (the runs become a new
    dimension at ``group_dim``), or None (not a tensor: passed as it is). An unbatched tensor is shared by all
    runs (expanded). The output's runs unfold from its channel dimension ``out_dim``."""

    @staticmethod
    def vmap(info, in_dims, fn, layout, out_dim, group_dim, *args):
        runs = info.batch_size
        folded = []
        for a, d, how in zip(args, in_dims[4:], layout):
            if isinstance(a, torch.Tensor) and how is not None:
                a = a.expand(runs, *a.shape) if d is None else a.movedim(d, 0)  # runs first
                if how == GROUP:
                    a = a.movedim(0, group_dim)
                else:
                    c = how % (a.dim() - 1)
                    a = a.movedim(0, c).flatten(c, c + 1)  # (..., K, C, ...) -> (..., K C, ...)
            folded.append(a)
        out = fn(*folded)
        c = out_dim % out.dim()
        return out.unflatten(c, (runs, out.shape[c] // runs)), c


def fold_runs(fn: Callable[..., torch.Tensor], layout: Sequence, out_dim: int, *args,
              group_dim: int = 1) -> torch.Tensor:
    """``fn(*args)``; inside a pack's vmap, one call of ``fn`` with the K runs folded as ``layout`` says (see
    ``_FoldRuns``). For an ``fn`` whose channels are independent except through ``GROUP`` arguments, exact."""
    if any(is_batched(a) for a in args):
        return _FoldRuns.apply(fn, tuple(layout), out_dim, group_dim, *args)
    return fn(*args)


def per_channel(fn: Callable[..., torch.Tensor], *args) -> torch.Tensor:
    """``fn(*args)`` for an ``fn`` that treats every channel (last dimension) on its own, as RWKV's WKV: inside a
    pack's vmap, one call with the K runs folded into the channels (exact: no channel sees another's values)."""
    return fold_runs(fn, [-1 if isinstance(a, torch.Tensor) else None for a in args], -1, *args)


def set_pack_dropout_generators(model: nn.Module, generators: Sequence[torch.Generator] | None) -> int:
    """Give every stochastic module of ``model`` one generator per packed run (None: back to unpacked)."""
    modules = [m for m in model.modules() if getattr(m, "uses_dropout_generator", False)]
    for m in modules:
        m.pack_generators = None if generators is None else list(generators)
    return len(modules)


@contextmanager
def run_index_scope(run_index: torch.Tensor) -> Iterator[None]:
    """Within the vmapped forward, make ``run_index`` (batched 0-d long: which run this is) visible."""
    global _run_index
    previous, _run_index = _run_index, run_index
    try:
        yield
    finally:
        _run_index = previous


def stacked_uniform(generators: Sequence[torch.Generator], shape: tuple[int, ...],
                    device: torch.device) -> torch.Tensor:
    """(K, *shape): one U[0, 1) draw of ``shape`` from each run's generator, in run order (so each generator advances
    exactly as in its unpacked run); ``pick_run`` takes the current run's inside the pack's forward."""
    return torch.stack([torch.rand(shape, device=g.device, generator=g).to(device) for g in generators])


def pick_run(per_run: torch.Tensor) -> torch.Tensor:
    """The current run's slice of a (K, ...) tensor, picked by the vmapped run index of the pack's forward."""
    if _run_index is None:
        raise RuntimeError("a packed dropout module ran outside the pack's forward (no run index in scope)")
    return per_run.index_select(0, _run_index.reshape(1)).squeeze(0)
