"""The step model of the GPU cost: a training step's kernels at a floor or their roofline work, packs of K runs
and packs sharing the GPU (issue 16). Used by ``benchmarks/cost_model.py``; the run types, the device check's
rows and the analytic model are in ``analysis.cost``.

A step's host time is its launches x the measured host time per launch; on the GPU each kernel costs
max(floor, its share of the step's roofline work), the floor being the measured busy time per kernel (latency:
these kernels move a few MB). Calibrated so that the measured unpacked step is reproduced exactly; a longer
sequence adds roofline work, not latency. A pack of K runs shares the kernels (each max(floor, K x work)) and adds
one stack per buffer and ``PER_RUN_KERNELS`` per further run; packs sharing the GPU overlap host gaps
with kernels. RWKV runs the Triton WKV (what scan: auto runs on CUDA), modelled from the Python loop's row until
the device check measures it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .cost import (ACT_PASSES, ACT_TENSORS, LAUNCH_S, MEM_BW, OPT_BYTES, RWKV_LAUNCH, TF32_FLOPS, Measured, RunType,
                   launch_ratio, nearest_measured)


KERNEL_FLOOR_FALLBACK_S = 15e-6  # GPU-busy time per kernel measured on the H200 (14.9 us GPT-2, 17.3 us Mamba)
PACK_MAX = 64                    # at most this many runs folded into one process
EFF_MATMUL = 0.5    # assumed: fraction of the 400 TFLOP/s TF32 figure a step's matmuls reach (256-wide inner dims)
EFF_BW = 0.8        # assumed: fraction of the measured 4.3 TB/s device copy the elementwise kernels reach
PER_RUN_KERNELS = 50  # assumed, on the safe side: kernels each run of a pack still launches alone (its batch's
#                       sampling and tokens, prediction and loss, gradient clipping, fused Adam); the rest of the step,
#                       the non-finite flags included, is shared. Counted on CPU (benchmarks/bench_pack.py --count-ops):
#                       16-20 kernel-running ops per further run outside Adam for S4, S4 (Park) and RWKV, plus fused
#                       Adam's one or two launches on CUDA; GPT-2's 40 and Mamba's 309 hold CPU-only per-run paths
#                       (attention without a vmap rule on CPU, the CPU's own scan, folded on CUDA)
WKV_STEP_S = 1e-6   # assumed: one time step of the Triton WKV's sequential loop (a dependent load, exp, store)
SHARE_EFFICIENCY = 0.8  # assumed without a measurement: GPU sharing reaches this fraction of the ideal overlap


def step_bytes(rt: RunType, tokens: float | None = None, act_bytes: float | None = None) -> float:
    """Bytes one training step of one run moves: its forward and backward, ``act_bytes`` per token and block (the
    kernels' reads and writes counted on CPU, ``analysis.fusion``), else the analytic rule (activations of every
    layer written, read and their gradients written), plus Adam's fp32 state."""
    t = rt.mean_tokens if tokens is None else tokens
    per_token = ACT_PASSES * ACT_TENSORS * 4 * rt.d_model if act_bytes is None else act_bytes
    return per_token * rt.batch * t * rt.n_layer + OPT_BYTES * rt.params


def work_s(rt: RunType, tokens: float, eff_matmul: float = EFF_MATMUL, eff_bw: float = EFF_BW,
           act_bytes: float | None = None) -> float:
    """Roofline time of one run's step at ``tokens``: its FLOPs at ``eff_matmul`` x the TF32 figure plus its bytes
    (``step_bytes``) at ``eff_bw`` x the bandwidth (matmuls and elementwise kernels are separate kernels, so the
    times add)."""
    return (6.0 * rt.params * tokens * rt.batch / (TF32_FLOPS * eff_matmul)
            + step_bytes(rt, tokens, act_bytes) / (MEM_BW * eff_bw))


@dataclass
class StepModel:
    """One run type's training step on the GPU, unpacked or as a pack of K runs.

    ``kernels`` kernels per unpacked step (``per_run`` of them belong to each run alone), each launched at
    ``host_per_kernel_s`` of host time. On the GPU each shared kernel costs max(``floor_s``, K x its share of the
    step's roofline work), the per-run ones and the pack's buffer stacking (``stack`` kernels, one per buffer)
    cost the floor. ``scale`` calibrates the busy time so that K = 1 at the measured length reproduces the
    measurement exactly. ``extra_per_token_s``: busy time per token outside the kernel model (the Triton WKV's
    sequential loop), not calibrated and not shortened by packing. ``act_bytes``: counted bytes per token and block
    (``step_bytes``). ``replayed``: shared kernels replayed from CUDA graphs (no host time each)."""
    rt: RunType
    kernels: float
    host_per_kernel_s: float
    floor_s: float
    per_run: float = PER_RUN_KERNELS
    stack: int = 0
    scale: float = 1.0
    eff_matmul: float = EFF_MATMUL
    extra_per_token_s: float = 0.0
    tokens_measured: float = 0.0
    eff_bw: float = EFF_BW  # the length the calibration used (the pessimistic rule scales from it)
    act_bytes: float | None = None
    replayed: float = 0.0

    @property
    def shared(self) -> float:
        return max(1.0, self.kernels - self.per_run)

    def launches(self, k: int = 1) -> float:
        """Kernels the host launches one by one in a step of ``k`` runs."""
        return (self.kernels if k == 1 else self.kernels + self.stack + (k - 1) * self.per_run) - self.replayed

    def _work_s(self, tokens: float) -> float:
        return work_s(self.rt, tokens, self.eff_matmul, self.eff_bw, self.act_bytes)

    def with_bytes(self, act_bytes: float) -> StepModel:
        """This model with counted bytes per token and block, recalibrated to the same measured step."""
        new = replace(self, act_bytes=act_bytes)
        new.scale = self.scale * self._busy_s(self.tokens_measured, 1) / new._busy_s(self.tokens_measured, 1)
        return new

    def compiled(self, kernel_ratio: float, act_bytes: float, graphs: bool = True, breaks: float = 0.0) -> StepModel:
        """The step under ``train.compile``: the shared kernels fused to ``kernel_ratio`` of their count, moving
        ``act_bytes`` per token and block (``analysis.fusion``'s counts); with ``graphs`` replayed from CUDA graphs
        (one launch each for the forward and the backward graph). ``breaks``: calls per step (forward and backward)
        that dynamo cannot trace, each run eagerly between two graphs: one launch of its own and one more graph
        launch. The per-run kernels (sampling, clipping, Adam) stay eager; the calibration (``scale``) is kept."""
        shared = self.shared * kernel_ratio
        return replace(self, kernels=shared + self.per_run, act_bytes=act_bytes,
                       replayed=max(0.0, shared - 2 - 2 * breaks) if graphs else 0.0)

    def host_ms(self, k: int = 1) -> float:
        return self.launches(k) * self.host_per_kernel_s * 1e3

    def _busy_s(self, tokens: float, k: int) -> float:
        w = self._work_s(tokens) / self.shared  # roofline work per shared kernel
        own = self.per_run * (1 if k == 1 else k) + (0 if k == 1 else self.stack)
        return self.shared * max(self.floor_s, k * w) + own * self.floor_s

    def busy_ms(self, k: int = 1, tokens: float | None = None) -> float:
        t = self.rt.mean_tokens if tokens is None else tokens
        return (self.scale * self._busy_s(t, k) + self.extra_per_token_s * t) * 1e3

    def pack_ms(self, k: int = 1, tokens: float | None = None) -> float:
        """One step of a pack of ``k`` runs, one pack alone on the GPU."""
        return self.host_ms(k) + self.busy_ms(k, tokens)

    def per_run_ms(self, k: int = 1, tokens: float | None = None) -> float:
        return self.pack_ms(k, tokens) / k

    def shared_per_run_ms(self, k: int, slots: int, tokens: float | None = None,
                          efficiency: float = SHARE_EFFICIENCY) -> float:
        """Per run step when ``slots`` such packs share the GPU: one pack's host gaps hold the others' kernels, up to
        the GPU being busy all the time; ``efficiency`` of the ideal overlap."""
        host, busy = self.host_ms(k), self.busy_ms(k, tokens)
        ideal = min(slots, (host + busy) / busy)
        speedup = max(1.0, 1.0 + (ideal - 1.0) * efficiency)
        return (host + busy) / speedup / k

    def knee(self) -> float:
        """K at which the mean shared kernel's work reaches the floor: beyond it a pack's busy time grows with K."""
        w = self._work_s(self.rt.mean_tokens) / self.shared
        return self.floor_s / w if w else math.inf


def step_model(rt: RunType, host_ms: float, busy_ms: float, kernels: float, tokens_measured: float,
               stack: int = 0, eff_matmul: float = EFF_MATMUL, eff_bw: float = EFF_BW) -> StepModel:
    """The step model of ``rt`` from a measured unpacked step split (host, busy ms) with ``kernels`` GPU kernels at
    ``tokens_measured`` tokens, already moved to ``rt``'s depth (and for RWKV its launch count); the floor is the
    measured busy time per kernel (busy / kernels)."""
    m = StepModel(rt, kernels, host_ms / 1e3 / kernels, busy_ms / 1e3 / kernels, min(PER_RUN_KERNELS, kernels / 2), stack,
                  eff_matmul=eff_matmul, eff_bw=eff_bw)
    modelled = m._busy_s(tokens_measured, 1)
    m.scale = busy_ms / 1e3 / modelled if modelled > 0 else 1.0
    m.tokens_measured = tokens_measured
    return m


def analytic_model(rt: RunType, launches: float, stack: int = 0, eff_matmul: float = EFF_MATMUL,
                   eff_bw: float = EFF_BW) -> StepModel:
    """A step model without a measurement: ``launches`` kernels at ``LAUNCH_S`` of host time and the fallback floor."""
    m = StepModel(rt, launches, LAUNCH_S, KERNEL_FLOOR_FALLBACK_S, min(PER_RUN_KERNELS, launches / 2), stack,
                  eff_matmul=eff_matmul, eff_bw=eff_bw)
    m.tokens_measured = rt.mean_tokens
    return m


def proportional_pack_ms(model: StepModel, k: int = 1) -> float:
    """The pessimistic rule for one pack step: every kernel's busy time grows with tokens as it was measured at the
    short length (no latency part at all), the host time as modelled."""
    busy = model.busy_ms(k, model.tokens_measured) * model.rt.mean_tokens / model.tokens_measured
    return model.host_ms(k) + max(busy, model.busy_ms(k))


def rwkv_triton_step(rt: RunType, host_ms: float, busy_ms: float, kernels: float, tokens_measured: float,
                     stack: int = 0, eff_matmul: float = EFF_MATMUL, eff_bw: float = EFF_BW) -> StepModel:
    """RWKV on the Triton WKV (what scan: auto runs on CUDA with triton), modelled from a measurement of the Python
    loop at ``tokens_measured``: the loop's kernels go (their share of host and busy time with them), four kernels per
    block come in (forward, backward, the two partial sums), and the kernel's loop over time costs ``WKV_STEP_S`` per
    step forward and twice that backward, per block."""
    a, b = RWKV_LAUNCH
    loop = kernels * b * tokens_measured / (a + b * tokens_measured)  # the loop's share of the launches
    rest = kernels - loop
    n = rest + 4 * rt.n_layer
    extra = 3 * WKV_STEP_S * rt.n_layer
    m = StepModel(rt, n, host_ms / 1e3 / kernels, busy_ms / 1e3 / kernels, min(PER_RUN_KERNELS, n / 2), stack,
                  eff_matmul=eff_matmul, extra_per_token_s=extra, eff_bw=eff_bw)
    modelled = m._busy_s(tokens_measured, 1)
    m.scale = busy_ms / 1e3 * rest / kernels / modelled if modelled > 0 else 1.0
    m.tokens_measured = tokens_measured
    return m


def model_from_table(rt: RunType, table: dict[tuple, Measured], stack: int = 0, rwkv_loop: bool = False,
                     eff_matmul: float = EFF_MATMUL, eff_bw: float = EFF_BW) -> tuple[StepModel, str] | None:
    """The step model of ``rt`` from the device check's row of its backbone (its shape, else the nearest depth,
    rescaled by blocks), and where it came from; None when the backbone has no row with a kernel count. RWKV runs
    the Triton WKV (scan: auto on CUDA): its ``triton`` row when measured, else modelled from the Python loop's row
    (``rwkv_triton_step``); ``rwkv_loop``: the loop as measured."""
    found = nearest_measured(rt, table, lambda m: m.main or m.triton)
    if found is None:
        return None
    m, ratio, src = found
    on_triton = rt.backbone == "rwkv" and not rwkv_loop  # what scan: auto runs on CUDA
    triton = on_triton and m.triton is not None
    row = m.triton if triton else m.main
    if row is None or not row.get("gpu_kernels_per_step") or not row.get("gpu_busy_ms"):
        return None
    tm = row["tokens"]
    host = (row["ms_per_step"] - row["gpu_busy_ms"]) * ratio
    busy, kernels = row["gpu_busy_ms"] * ratio, row["gpu_kernels_per_step"] * ratio
    if on_triton and not triton:  # no Triton row yet: modelled from the Python loop's
        return (rwkv_triton_step(rt, host, busy, kernels, tm, stack, eff_matmul, eff_bw),
                src + " (Python-loop WKV); Triton WKV modelled")
    # RWKV's Python loop: its launches (tiny kernels, floor-bound) grow with tokens, host and busy time with them
    launch = launch_ratio(rt.backbone, rt.mean_tokens, tm)
    model = step_model(rt, host * launch, busy * launch, kernels * launch, tm, stack=stack, eff_matmul=eff_matmul,
                       eff_bw=eff_bw)
    return model, src + (", Triton WKV" if triton else "")


def roofline_efficiencies(rows: list[dict]) -> tuple[float | None, float | None]:
    """(matmul efficiency, bandwidth efficiency) measured by the device check's ``roofline`` phase
    (benchmarks/gpu/bench_roofline.py): the median fraction of the TF32 figure over the packed (K > 1) matmul
    shapes, and the best elementwise bandwidth against ``MEM_BW``; None where not measured."""
    mm = sorted(r["fraction_of_tf32"] for r in rows if r.get("phase") == "roofline" and r.get("kind") == "matmul"
                and r.get("pack_k", 1) > 1 and r.get("fraction_of_tf32") and not r.get("tiny"))
    bw = [r["gbps"] for r in rows if r.get("phase") == "roofline" and r.get("kind") == "elementwise"
          and r.get("gbps") and not r.get("tiny")]
    return (mm[len(mm) // 2] if mm else None), (min(1.0, max(bw) * 1e9 / MEM_BW) if bw else None)


def share_efficiency(rows: list[dict]) -> tuple[float, list[tuple[str, float, float]]] | None:
    """How much of the ideal overlap processes sharing the GPU reached in the device check's ``share`` phase: per
    pair, (speed-up - 1) / (ideal - 1), the ideal being min(processes, ms / busy) of that pair's measured unpacked
    step. Returns (the smallest over the pairs, capped at 1; [(pair, measured speed-up, ideal)]), or None."""
    steps = {r["pair"]: r for r in rows if r.get("precision") == "fp32" and r.get("gpu_busy_ms") and not r.get("tiny")
             and r.get("phase") in ("bench", "kernels") and r.get("ms_per_step")}
    found = []
    for r in rows:
        step = steps.get(r.get("pair"))
        if r.get("phase") == "share" and r.get("speedup_vs_one") and step and r.get("n_procs", 1) > 1:
            ideal = min(r["n_procs"], step["ms_per_step"] / step["gpu_busy_ms"])
            if ideal > 1:
                found.append((r["pair"], r["speedup_vs_one"], ideal))
    if not found:
        return None
    return min(1.0, min((s - 1) / (i - 1) for _, s, i in found)), found


def pack_key(rt: RunType) -> tuple:
    """Runs that can share kernels: same backbone spec (learning rate aside), token layout, token schedule,
    steps and batch; they may differ in seed, learning rate and task (of the same layout)."""
    return (rt.spec_key, rt.layout_key, rt.steps, rt.batch)
