"""GPU cost of a config's trainings: tokens and FLOPs per run type, and step times from measurements or a model.

Used by ``benchmarks/cost_model.py``. A *run type* is one (task, model) pair of the config's experiments;
its runs are that pair's seeds. Tokens per step follow the task's curriculum (``points`` schedule over the
training steps) and the task's own token layout (``task.tokens``: 2 per point when interleaved, 3 for
chain-of-thought, 2N + 1 for MQAR), counted by sampling one prompt at each point count.

Step times (milliseconds, one run, batch as configured, fp32):

* **the step model** (``StepModel``, ``model_from_table``): from the device check's unpacked row of the backbone
  (``ms``, ``gpu_busy_ms`` and the kernel count at ``tokens``; another depth rescaled by the block-count ratio): the
  host part ``ms - busy`` is launches x host time per launch; on the GPU each kernel costs max(floor, its share of
  the step's roofline work), the floor being the measured busy time per kernel (latency: these kernels move a
  few MB). Calibrated so that the measured step is reproduced exactly; a longer sequence adds roofline work, not
  latency. A pack of K runs shares the kernels (each max(floor, K x work)) and adds one stack per parameter tensor
  and ``PER_RUN_KERNELS`` per further run; ``slots`` packs sharing the GPU overlap host gaps with kernels.
  RWKV runs the Triton WKV (what scan: auto runs on CUDA), modelled from the Python loop's row until measured.
* **the pessimistic rule** (``proportional_pack_ms``, ``scaled_ms``): the busy part grows in proportion to
  tokens, t(T) = (ms - busy) * L(T) / L(T_m) + busy * T / T_m (launches L constant in length except RWKV's loop).
  Rows without a busy figure (the own-scan ``fallback`` phase): the kernels-path time of the same shape plus the
  extra own-scan cost scaled with tokens, else ms * T / T_m.
* **analytic** (``analytic_step_ms``): max(compute, memory) + launches * launch cost, constants below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..config import iter_runs, train_spec
from ..training.curriculum import Schedule

TF32_FLOPS = 400e12     # dense TF32 peak of an H200 (bf16 dense ~790e12); fp32 training uses TF32 matmuls
MEM_BW = 4.3e12         # measured device-copy bandwidth, bytes/s
LAUNCH_S = 7.5e-6       # per kernel launch, host side; range 5-10 us
LAUNCH_RANGE_S = (5e-6, 10e-6)
ACT_TENSORS = 17        # fp32 activation tensors of size B*T*d per layer (Korthikanti et al.: 34 bytes at 16 bit)
ACT_PASSES = 3          # written forward, read backward, gradient written
OPT_BYTES = 4 * 16      # per parameter and step: param, grad, Adam m, v read and written (fp32)
MAMBA_BACKBONES = ("mamba", "standard_hybrid", "mambaformer")  # selective-scan blocks (s4_mamba has none)
# RWKV's launches per step are affine in tokens (spec 13: 8,103 at 82 tokens, 16,747 at 202)
RWKV_LAUNCH = (8103 - 82 * (16747 - 8103) / 120, (16747 - 8103) / 120)
# spec 13: kernel launches per training step, profiler on CPU, standard sizes, batch 64
SPEC_LAUNCHES = {  # backbone -> (launches, at n_layer, source)
    "gpt2": (624, 12, "spec 13"), "mamba": (1567, 24, "spec 13, mamba-ssm kernels"),
    "mamba_own_scan": (38915, 24, "spec 13, own scan"), "s4": (2483, 24, "spec 13"),
    "rwkv": (None, 12, "spec 13, affine in tokens"),
}


def points_histogram(points: dict, steps: int) -> list[tuple[int, int]]:
    """[(points, steps spent there)] of a curriculum ``points`` schedule over ``steps`` training steps."""
    s = Schedule.from_dict(points)
    out, t = [], 0
    while t < steps:
        value = s.at(t)
        stop = steps if value >= s.end or s.inc == 0 else min(steps, (t // s.interval + 1) * s.interval)
        out.append((value, stop - t))
        t = stop
    return out


def tokens_at(task, n_points: int) -> int:
    """Sequence length the model sees for a prompt of ``n_points`` points (the task's own layout)."""
    import torch

    return int(task.tokens(task.sample(1, n_points, torch.Generator().manual_seed(0))).shape[1])


def token_profile(task, points: dict, steps: int) -> tuple[float, int, int]:
    """(mean tokens per sequence over training, tokens at the last step, summed tokens per sequence)."""
    hist = points_histogram(points, steps)
    cache = {p: tokens_at(task, p) for p in {p for p, _ in hist}}
    total = sum(cache[p] * n for p, n in hist)
    return total / steps, cache[hist[-1][0]], total


@dataclass
class RunType:
    task: str
    model: str
    backbone: str
    d_model: int
    n_layer: int
    params: int
    n_runs: int
    steps: int
    batch: int
    mean_tokens: float
    final_tokens: int
    points_key: str                     # the token schedule (packing needs equal lengths at every step)
    sources: dict = field(default_factory=dict)
    spec_key: str = ""                  # the backbone spec without its learning rate (packing: one shape)
    layout_key: str = ""                # token and output widths and the token schedule (packing: one layout)
    tensors: int = 0                    # parameter and buffer tensors (a pack stacks each one every step)

    @property
    def tokens(self) -> float:
        """Training tokens of all runs of this type (sequence tokens x batch x steps x runs)."""
        return self.mean_tokens * self.batch * self.steps * self.n_runs

    @property
    def flops(self) -> float:
        """≈ 6 x params x tokens (forward 2, backward 4 FLOPs per parameter and token)."""
        return 6.0 * self.params * self.tokens

    @property
    def shape(self) -> tuple:
        return (self.backbone, self.d_model, self.n_layer)


def run_types(config: dict, params_of=None) -> list[RunType]:
    """One RunType per (task, model) of a validated config, in experiment order."""
    from ..models import build_model
    from ..tasks import task_from_spec

    counts: dict[tuple[str, str], int] = {}
    for task, model, _ in iter_runs(config):
        counts[(task, model)] = counts.get((task, model), 0) + 1
    cache: dict = {}
    out = []
    for (task_name, model), n in counts.items():
        seed = next(s for t, m, s in iter_runs(config) if (t, m) == (task_name, model))
        spec = train_spec(config, task_name, model, seed)
        task = task_from_spec(spec["task"])
        mspec = spec["model"]
        key = (repr(sorted(mspec.items())), task.token_dim, task.out_dim)
        if key not in cache:
            if params_of:
                cache[key] = (params_of(mspec, task), 0)
            else:
                built = build_model(mspec, task.token_dim, seed=0, out_dim=task.out_dim)
                # tensors: what a pack stacks every step (training.pack: parameters and buffers)
                cache[key] = (built.effective_parameters(),
                              len(list(built.parameters())) + len(list(built.buffers())))
        points = repr((sorted(spec["task"].items()), sorted(spec["curriculum"]["points"].items()), spec["steps"]))
        if points not in cache:
            cache[points] = token_profile(task, spec["curriculum"]["points"], spec["steps"])
        mean, final, _ = cache[points]
        out.append(RunType(task_name, model, mspec["backbone"], mspec["d_model"], mspec["n_layer"],
                           cache[key][0], n, spec["steps"], spec["batch_size"], mean, final,
                           repr((spec["task"]["name"], sorted(spec["curriculum"]["points"].items()))),
                           spec_key=repr(sorted((k, v) for k, v in mspec.items() if k != "learning_rate")),
                           layout_key=repr((task.token_dim, task.out_dim, sorted(spec["curriculum"]["points"].items()),
                                            mean, final)),
                           tensors=cache[key][1]))
    return out


# ---------------------------------------------------------------------------------------------------
# measured step times


def launch_ratio(backbone: str, tokens: float, tokens_measured: float) -> float:
    """L(T) / L(T_m): 1, except RWKV (launches affine in tokens)."""
    if backbone != "rwkv":
        return 1.0
    a, b = RWKV_LAUNCH
    return (a + b * tokens) / (a + b * tokens_measured)


def scaled_ms(row: dict, backbone: str, tokens: float, layer_ratio: float = 1.0) -> tuple[float, float]:
    """(host ms, busy ms) of a measured row scaled to ``tokens`` by the rule in the module docstring."""
    ms, tm = row["ms_per_step"], row["tokens"]
    busy = row.get("gpu_busy_ms")
    if busy is None:
        return 0.0, ms * tokens / tm * layer_ratio
    host = (ms - busy) * launch_ratio(backbone, tokens, tm)
    return host * layer_ratio, busy * tokens / tm * layer_ratio


@dataclass
class Measured:
    """Device-check rows of one backbone shape: fp32 ``kernels`` (or ``bench``), ``fallback``, ``triton`` and
    ``pack`` rows."""
    shape: tuple
    main: dict | None = None       # Mamba-containing: the kernels phase; others: the bench phase
    fallback: dict | None = None   # Mamba-containing: the own scan
    triton: dict | None = None     # on the package's Triton kernels (RWKV's WKV, Mamba's scan)
    packs: dict = field(default_factory=dict)  # pack size K -> the row timing one step of a pack of K


def index_measurements(rows: list[dict], shape_of) -> dict[tuple, Measured]:
    """fp32 rows with a step time, keyed by backbone shape; ``shape_of(row)`` -> (backbone, d, n_layer)."""
    out: dict[tuple, Measured] = {}
    for r in rows:
        if r.get("precision") != "fp32" or r.get("ms_per_step") is None or r.get("tiny"):
            continue  # --tiny rows (a CPU smoke test of the scripts) never stand for the device
        phase = r.get("phase")
        if phase not in ("bench", "fallback", "kernels", "triton", "pack"):
            continue
        shape = shape_of(r)
        m = out.setdefault(shape, Measured(shape))
        if phase == "pack":
            if r.get("pack_k"):
                m.packs[int(r["pack_k"])] = r
            continue
        if phase == "triton":
            m.triton = r
            continue
        mamba = shape[0] in MAMBA_BACKBONES
        if phase == "fallback" or (mamba and phase == "bench" and not r.get("on_kernels")):
            m.fallback = m.fallback or r
        elif phase == "kernels" or not mamba:
            m.main = r
    return out


def measured_step_ms(rt: RunType, table: dict[tuple, Measured], own_scan: bool = False
                     ) -> tuple[float, float, str] | None:
    """(host ms, busy ms, source) per step of one run of ``rt`` at its mean tokens, or None if its backbone
    was never measured. ``own_scan``: Mamba-containing backbones without mamba-ssm."""
    same = [m for s, m in table.items() if s[0] == rt.backbone and (m.fallback if own_scan else m.main)]
    if not same:
        return None
    exact = [m for m in same if m.shape == rt.shape]
    m = exact[0] if exact else min(same, key=lambda m: abs(m.shape[2] - rt.n_layer))
    ratio = rt.n_layer / m.shape[2]
    src = "measured" if exact else f"measured at {m.shape[1]}x{m.shape[2]}, x{ratio:.3g} blocks"
    if not own_scan:
        return (*scaled_ms(m.main, rt.backbone, rt.mean_tokens, ratio), src)
    fb = m.fallback
    if m.main is None:
        return (*scaled_ms(fb, rt.backbone, rt.mean_tokens, ratio), src + ", own scan")
    host, busy = scaled_ms(m.main, rt.backbone, rt.mean_tokens, ratio)
    extra = (fb["ms_per_step"] - m.main["ms_per_step"]) * rt.mean_tokens / fb["tokens"] * ratio
    return host + extra, busy, src + ", own scan"


# ---------------------------------------------------------------------------------------------------
# analytic model


def spec_launches(backbone: str, n_layer: int, tokens: float, own_scan: bool = False) -> tuple[float, str]:
    """Launches per step from spec 13's counts, scaled by block count from the standard depth."""
    if backbone == "rwkv":
        a, b = RWKV_LAUNCH
        return (a + b * tokens) * n_layer / 12, SPEC_LAUNCHES["rwkv"][2]
    if backbone in MAMBA_BACKBONES and backbone != "mamba":
        # hybrids: Mamba blocks and attention/S4 blocks alternate; per-block cost as Mamba's
        key = "mamba_own_scan" if own_scan else "mamba"
    elif backbone in ("s4_park", "s4_mamba"):
        key = "s4"
    else:
        key = "mamba_own_scan" if (own_scan and backbone == "mamba") else backbone
    n, at, src = SPEC_LAUNCHES.get(key, SPEC_LAUNCHES["gpt2"])
    return n * n_layer / at, src + ("" if n_layer == at else f", x{n_layer}/{at} blocks")


def analytic_step_ms(rt: RunType, launches: float, tokens: float | None = None, k: int = 1,
                     launch_s: float = LAUNCH_S) -> dict:
    """Modelled ms per step of ``k`` packed runs: max(compute, memory) x k + launches x launch cost."""
    t = rt.mean_tokens if tokens is None else tokens
    compute = 6.0 * rt.params * t * rt.batch / TF32_FLOPS
    memory = (ACT_PASSES * ACT_TENSORS * 4 * rt.batch * t * rt.d_model * rt.n_layer
              + OPT_BYTES * rt.params) / MEM_BW
    host = launches * launch_s
    return {"compute_ms": compute * 1e3, "memory_ms": memory * 1e3, "launch_ms": host * 1e3,
            "ms": (k * max(compute, memory) + host) * 1e3}


def hours(ms_per_step: float, steps: int, runs: int) -> float:
    return ms_per_step * steps * runs / 3.6e6


def pack_groups(types: list[RunType]) -> dict[tuple, list[RunType]]:
    """Run types that can share one process: same backbone shape and same token schedule."""
    groups: dict[tuple, list[RunType]] = {}
    for rt in types:
        groups.setdefault((rt.shape, rt.points_key, rt.steps), []).append(rt)
    return groups


def relative_error(model: float, measured: float) -> float:
    return (model - measured) / measured if measured and math.isfinite(model) else float("nan")


# ---------------------------------------------------------------------------------------------------
# the step model: kernels at a floor or their roofline work, packs and GPU sharing (modelled, not measured)

KERNEL_FLOOR_FALLBACK_S = 15e-6  # GPU-busy time per kernel measured on the H200 (14.9 us GPT-2, 17.3 us Mamba)
PACK_MAX = 64                    # at most this many runs folded into one process
EFF_MATMUL = 0.5    # assumed: fraction of the 400 TFLOP/s TF32 figure a step's matmuls reach (256-wide inner dims)
EFF_BW = 0.8        # assumed: fraction of the measured 4.3 TB/s device copy the elementwise kernels reach
PER_RUN_KERNELS = 50  # assumed: kernels each run of a pack still launches alone (its batch's sampling, loss,
#                       non-finite flag, gradient clipping, fused Adam); the rest of the step is shared
WKV_STEP_S = 1e-6   # assumed: one time step of the Triton WKV's sequential loop (a dependent load, exp, store)
SHARE_EFFICIENCY = 0.8  # GPU sharing reaches this fraction of the ideal (host + busy) / busy: the measured 1.72x
#                         of 8 Mamba processes against the ideal 2.15x (Transformer: 2.17x against 1.93x)


def step_bytes(rt: RunType, tokens: float | None = None) -> float:
    """Bytes one training step of one run moves (the analytic memory model): activations of every layer written,
    read and their gradients written, plus Adam's fp32 state."""
    t = rt.mean_tokens if tokens is None else tokens
    return ACT_PASSES * ACT_TENSORS * 4 * rt.batch * t * rt.d_model * rt.n_layer + OPT_BYTES * rt.params


def work_s(rt: RunType, tokens: float, eff_matmul: float = EFF_MATMUL, eff_bw: float = EFF_BW) -> float:
    """Roofline time of one run's step at ``tokens``: its FLOPs at ``eff_matmul`` x the TF32 figure plus its bytes
    at ``eff_bw`` x the bandwidth (matmuls and elementwise kernels are separate kernels, so the times add)."""
    return (6.0 * rt.params * tokens * rt.batch / (TF32_FLOPS * eff_matmul)
            + step_bytes(rt, tokens) / (MEM_BW * eff_bw))


@dataclass
class StepModel:
    """One run type's training step on the GPU, unpacked or as a pack of K runs.

    ``kernels`` kernels per unpacked step (``per_run`` of them belong to each run alone), each launched at
    ``host_per_kernel_s`` of host time. On the GPU each shared kernel costs max(``floor_s``, K x its share of the
    step's roofline work), the per-run ones and the pack's parameter stacking (``stack`` kernels, one per parameter
    tensor) cost the floor. ``scale`` calibrates the busy time so that K = 1 at the measured length reproduces the
    measurement exactly. ``extra_per_token_s``: busy time per token outside the kernel model (the Triton WKV's
    sequential loop), not calibrated and not shortened by packing."""
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

    @property
    def shared(self) -> float:
        return max(1.0, self.kernels - self.per_run)

    def launches(self, k: int = 1) -> float:
        return self.kernels if k == 1 else self.kernels + self.stack + (k - 1) * self.per_run

    def host_ms(self, k: int = 1) -> float:
        return self.launches(k) * self.host_per_kernel_s * 1e3

    def _busy_s(self, tokens: float, k: int) -> float:
        w = work_s(self.rt, tokens, self.eff_matmul, self.eff_bw) / self.shared  # roofline work per shared kernel
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

    def shared_per_run_ms(self, k: int, slots: int, tokens: float | None = None) -> float:
        """Per run step when ``slots`` such packs share the GPU: one pack's host gaps hold the others' kernels, up to
        the GPU being busy all the time; ``SHARE_EFFICIENCY`` of the ideal overlap."""
        host, busy = self.host_ms(k), self.busy_ms(k, tokens)
        ideal = min(slots, (host + busy) / busy)
        speedup = max(1.0, 1.0 + (ideal - 1.0) * SHARE_EFFICIENCY)
        return (host + busy) / speedup / k

    def knee(self) -> float:
        """K at which the mean shared kernel's work reaches the floor: beyond it a pack's busy time grows with K."""
        w = work_s(self.rt, self.rt.mean_tokens, self.eff_matmul, self.eff_bw) / self.shared
        return self.floor_s / w if w else math.inf


def step_model(rt: RunType, host_ms: float, busy_ms: float, kernels: float, tokens_measured: float,
               floor_s: float | None = None, stack: int = 0, eff_matmul: float = EFF_MATMUL,
               eff_bw: float = EFF_BW) -> StepModel:
    """The step model of ``rt`` from a measured unpacked step split (host, busy ms) with ``kernels`` GPU kernels at
    ``tokens_measured`` tokens, already moved to ``rt``'s depth (and for RWKV its launch count). ``floor_s``:
    the busy time per kernel (default the measured mean, busy / kernels)."""
    floor = busy_ms / 1e3 / kernels if floor_s is None else floor_s
    m = StepModel(rt, kernels, host_ms / 1e3 / kernels, floor, min(PER_RUN_KERNELS, kernels / 2), stack,
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
    same = [m for s, m in table.items() if s[0] == rt.backbone and (m.main or m.triton)]
    if not same:
        return None
    exact = [m for m in same if m.shape == rt.shape]
    m = exact[0] if exact else min(same, key=lambda m: abs(m.shape[2] - rt.n_layer))
    ratio = rt.n_layer / m.shape[2]
    src = "measured" if exact else f"measured at {m.shape[1]}x{m.shape[2]}, x{ratio:.3g} blocks"
    triton = rt.backbone == "rwkv" and not rwkv_loop and m.triton is not None
    row = m.triton if triton else m.main
    if row is None or not row.get("gpu_kernels_per_step") or not row.get("gpu_busy_ms"):
        return None
    tm = row["tokens"]
    launch = 1.0 if (rt.backbone == "rwkv" and not rwkv_loop and not triton) else launch_ratio(
        rt.backbone, rt.mean_tokens, tm)
    host = (row["ms_per_step"] - row["gpu_busy_ms"]) * ratio
    busy, kernels = row["gpu_busy_ms"] * ratio, row["gpu_kernels_per_step"] * ratio
    if rt.backbone == "rwkv" and not rwkv_loop and not triton:
        return (rwkv_triton_step(rt, host, busy, kernels, tm, stack, eff_matmul, eff_bw),
                src + " (Python-loop WKV); Triton WKV modelled")
    # RWKV's Python loop: its launches (tiny kernels, floor-bound) grow with tokens, host and busy time with them
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


def pack_key(rt: RunType) -> tuple:
    """Runs that can share kernels: same backbone spec (learning rate aside), token layout, token schedule,
    steps and batch; they may differ in seed, learning rate and task (of the same layout)."""
    return (rt.spec_key, rt.layout_key, rt.steps, rt.batch)


# ---------------------------------------------------------------------------------------------------
# the NLP study's forward passes (spec 7)

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
