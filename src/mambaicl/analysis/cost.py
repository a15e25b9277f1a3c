"""GPU cost of a config's trainings: tokens and FLOPs per run type, and step times from measurements or a model.

Used by ``benchmarks/cost_model.py`` (with ``analysis.step_model`` and ``analysis.nlp_cost``). A *run type* is one (task, model) pair of the config's experiments;
its runs are that pair's seeds. Tokens per step follow the task's curriculum (``points`` schedule over the
training steps) and the task's own token layout (``task.tokens``: 2 per point when interleaved, 3 for
chain-of-thought, 2N + 1 for MQAR), counted by sampling one prompt at each point count.

Step times (milliseconds, one run, batch as configured, fp32):

* **the step model** (``analysis.step_model``): from the device check's unpacked row of the backbone
  (``ms``, ``gpu_busy_ms`` and the kernel count at ``tokens``; another depth rescaled by the block-count ratio): the
  host part ``ms - busy`` is launches x host time per launch; on the GPU each kernel costs max(floor, its share of
  the step's roofline work), the floor being the measured busy time per kernel (latency: these kernels move a
  few MB). Calibrated so that the measured step is reproduced exactly; a longer sequence adds roofline work, not
  latency. A pack of K runs shares the kernels (each max(floor, K x work)) and adds one stack per parameter tensor
  and ``PER_RUN_KERNELS`` per further run; ``slots`` packs sharing the GPU overlap host gaps with kernels.
  RWKV runs the Triton WKV (what scan: auto runs on CUDA), modelled from the Python loop's row until measured.
* **the pessimistic rule** (``scaled_ms``; ``step_model.proportional_pack_ms``): the busy part grows in proportion to
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
    spec_key: str = ""                  # the backbone spec without its learning rate (packing: one shape)
    layout_key: str = ""                # token and output widths and the token schedule (packing: one layout)
    tensors: int = 0                    # buffers: what a pack stacks every step (its parameters are stacked leaves)

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
                # what a pack stacks every step: its buffers (training.pack keeps the parameters stacked)
                cache[key] = (built.effective_parameters(), len(list(built.buffers())))
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
        if r.get("compile", "eager") != "eager":
            continue  # train.compile rows: the totals are eager's; the compile phase's ratios are printed apart
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


def compile_speedups(rows: list[dict]) -> list[tuple[str, int, str, float, int | None]]:
    """(backbone, K, mode, eager ms / mode ms, graph breaks or None where unrecorded) from the device check's
    ``compile`` phase (fp32, on the device), for the fused and graphs rows that ran beside an eager row of the same
    backbone, K and implementation."""
    comp = [r for r in rows if r.get("phase") == "compile" and r.get("precision") == "fp32" and not r.get("tiny")
            and r.get("ms_per_step") and not r.get("error")]
    eager = {(r.get("backbone"), r.get("pack_k") or 1, r.get("impl")): r["ms_per_step"] for r in comp
             if r.get("compile") == "eager"}
    out = []
    for r in comp:
        key = (r.get("backbone"), r.get("pack_k") or 1, r.get("impl"))
        if r.get("compile") != "eager" and key in eager:
            out.append((key[0], key[1], r["compile"], eager[key] / r["ms_per_step"], r.get("graph_breaks")))
    return out


def nearest_measured(rt: RunType, table: dict[tuple, Measured], has) -> tuple[Measured, float, str] | None:
    """The rows of ``rt``'s backbone for which ``has(rows)`` is truthy: its own shape, else the nearest depth;
    with the block-count ratio to ``rt`` and a source label. None when the backbone has no such rows."""
    same = [m for s, m in table.items() if s[0] == rt.backbone and has(m)]
    if not same:
        return None
    exact = [m for m in same if m.shape == rt.shape]
    m = exact[0] if exact else min(same, key=lambda m: abs(m.shape[2] - rt.n_layer))
    ratio = rt.n_layer / m.shape[2]
    return m, ratio, "measured" if exact else f"measured at {m.shape[1]}x{m.shape[2]}, x{ratio:.3g} blocks"


def measured_step_ms(rt: RunType, table: dict[tuple, Measured], own_scan: bool = False
                     ) -> tuple[float, float, str] | None:
    """(host ms, busy ms, source) per step of one run of ``rt`` at its mean tokens, or None if its backbone
    was never measured. ``own_scan``: Mamba-containing backbones without mamba-ssm."""
    found = nearest_measured(rt, table, lambda m: m.fallback if own_scan else m.main)
    if found is None:
        return None
    m, ratio, src = found
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


def relative_error(model: float, measured: float) -> float:
    return (model - measured) / measured if measured and math.isfinite(model) else float("nan")
