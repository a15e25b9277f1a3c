"""``train.compile``: the training step's forward and loss through ``torch.compile`` (issue 16, item 4).

- ``eager`` (default): no compilation, today's kernels, bit for bit.
- ``fused``: ``torch.compile`` (inductor): elementwise chains fused into a few generated kernels, on CPU (C++) or
  CUDA (Triton); fewer launches and less memory traffic. The backward is compiled with it (AOTAutograd).
- ``graphs``: the same, mode ``reduce-overhead``: each compiled graph replayed as a CUDA graph, one launch per
  graph instead of one per kernel. CUDA only.

Shapes are static (``dynamic=False``): one graph per curriculum shape (active dimensions x points), compiled the
first time the curriculum reaches it; the recompile limit is raised to the curriculum's count of shapes so no
shape falls back to eager. Should dynamo still reach it (something else changing between steps), the step fails
with an error naming the fix instead of dynamo's silent fall-back to eager kernels (``RecompileLimitError``).
Compiled kernels sum in another order: results agree with ``eager`` within float rounding, not bit for bit, so the
mode is a host choice like ``scan`` (not part of a run's spec): a run resumes under any mode. Optimiser, clipping
and data sampling stay eager (fused Adam on CUDA is one launch already).
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable

import torch

from ..errors import ConfigError, DeviceError, MambaICLError
from ..models import keep_loops_eager
from .curriculum import Curriculum

COMPILE_MODES = {"eager": None, "fused": "default", "graphs": "reduce-overhead"}
BACKEND = "inductor"  # tests may trace with "aot_eager" (same graphs and autograd, no code generation: fast)
CXX = ("c++", "g++", "clang++")


class RecompileLimitError(MambaICLError):
    """The compiled step needed more graphs than the recompile limit allows."""


def curriculum_shapes(curriculum: Curriculum, steps: int) -> int:
    """How many distinct (active dimensions, points) pairs the curriculum passes through in ``steps`` steps: the
    graphs a static-shape compile builds. Both counters change only at multiples of their interval."""
    starts = {0}
    for sched in (curriculum.dims, curriculum.points):
        if sched.inc:
            starts |= set(range(0, steps, sched.interval))
    return len({curriculum.at(s) for s in starts if s < steps})


def check_compile(mode: str, device_type: str) -> None:
    """Refuse a mode this host cannot run, naming the fix: ``graphs`` needs CUDA; ``fused`` needs a C++ compiler
    on CPU and Triton on CUDA."""
    if mode not in COMPILE_MODES:
        raise ConfigError(f"config error: 'train.compile' = {mode!r} is not one of {', '.join(COMPILE_MODES)}")
    if mode == "eager":
        return
    if mode == "graphs" and device_type != "cuda":
        raise ConfigError("config error: 'train.compile' = graphs replays CUDA graphs and needs a CUDA GPU, but "
                          "training runs on the CPU; use train.compile: fused (or eager) here")
    if device_type == "cuda":
        if importlib.util.find_spec("triton") is None:  # inductor's CUDA kernels are Triton kernels
            raise DeviceError(f"'train.compile' = {mode} needs Triton on CUDA (torch.compile's kernels): install "
                              "it with `pip install triton`, or use train.compile: eager")
    elif not any(shutil.which(c) for c in CXX):
        raise DeviceError(f"'train.compile' = {mode} on the CPU needs a C++ compiler (torch.compile builds C++ "
                          "kernels) and none of c++, g++, clang++ is on PATH: install one (Debian: apt install g++), "
                          "or use train.compile: eager")


def compile_step(fn: Callable, mode: str, device: torch.device, shapes: int) -> Callable:
    """``fn`` (a training step's forward and loss) compiled for ``mode`` on ``device``; ``eager``: ``fn`` itself."""
    check_compile(mode, device.type)
    if mode == "eager":
        return fn
    import torch._dynamo

    keep_loops_eager()
    # twice the shapes: a pack's runs that resume at different steps catch up as a smaller pack (other shapes)
    limit = max(torch._dynamo.config.recompile_limit, 2 * shapes + 1)
    torch._dynamo.config.recompile_limit = limit
    torch._dynamo.config.accumulated_recompile_limit = max(torch._dynamo.config.accumulated_recompile_limit, 4 * limit)
    # past the limit dynamo would run the step eagerly, silently slower: fail instead, naming the fix
    torch._dynamo.config.fail_on_recompile_limit_hit = True
    compiled = torch.compile(fn, mode=COMPILE_MODES[mode], dynamic=False, backend=BACKEND)

    def step(*args, **kwargs):
        try:
            return compiled(*args, **kwargs)
        except torch._dynamo.exc.FailOnRecompileLimitHit as e:
            raise RecompileLimitError(
                f"train.compile = {mode}: torch.compile needed more than {limit} graphs of the training step (the "
                f"recompile limit, set from the curriculum's {shapes} shapes); past it dynamo would run the step "
                "eagerly, slower and unnoticed, so the run stops here (dynamo's warning above names the guard that "
                "failed). Its last checkpoint is kept: rerun with train.compile: eager to continue from it, and "
                "report the warning") from e

    return step


def begin_step(mode: str) -> None:
    """Tell CUDA-graph replay that a new training step starts (the previous step's graph outputs are done with)."""
    if mode == "graphs":
        torch.compiler.cudagraph_mark_step_begin()


def describe_compile(mode: str, shapes: int) -> str:
    """The job log's line on compilation."""
    if mode == "eager":
        return "compile: eager (train.compile; no torch.compile)"
    what = "fused kernels" if mode == "fused" else "fused kernels replayed as CUDA graphs"
    return (f"compile: {mode} (train.compile; torch.compile {BACKEND}, mode {COMPILE_MODES[mode]}: {what}, "
            f"static shapes, up to {shapes} graphs, one per curriculum shape, each compiled when first reached)")
