"""GPU cost model of a workflow config's trainings (issue 16, item 1).

    python benchmarks/cost_model.py --configfile workflow/config/paper.yaml [--measured FILE | none] [--profile]

``--measured`` defaults to the last complete device check in the repository (``LATEST_DEVICE_CHECK``); ``none``
leaves every step to the analytic model (the totals then say so).

Prints, per run type (task, model): parameters, runs (models x seeds), steps, tokens per sequence averaged
over the curriculum's points schedule (the task's own token layout: 2 per point interleaved, 3 for CoT,
2N + 1 for MQAR), training tokens, FLOPs (≈ 6 x params x tokens, i.e. 6 x params x tokens x batch per step),
and GPU-hours. Then the totals:

* **today**: one run at a time, fp32, from measured H200 steps (``--measured``: the device check's fp32 rows;
  Mamba-containing backbones from the ``kernels`` phase, i.e. with mamba-ssm; RWKV on the Triton WKV, modelled from
  the Python loop's row until a ``triton`` row exists). The step model (``mambaicl.analysis.step_model.StepModel``):
  host time = launches x the measured host time per launch; GPU time = every kernel max(floor, its share of the
  step's roofline work), floor = the measured busy time per kernel, calibrated to reproduce the measured step.
  In brackets, the pessimistic rule: busy time in proportion to tokens (no latency part at all).
* **without mamba-ssm and triton**: Mamba-containing backbones on the own scan (``fallback`` phase).
* **N processes sharing the GPU** (``--slots``, default the profile's gpu_slots): one pack's host gaps hold the
  others' kernels, at the least fraction of the ideal overlap the device check's share phase reached (else 80 %).
* **packed**: K runs of one backbone spec, token layout and token schedule folded into one process's kernels:
  each shared kernel max(floor, K x work), plus one stack kernel per buffer and 50 kernels per further
  run (sampling, loss, clipping, Adam); K = every run of the group, up to 64 and the GPU's memory; then up to
  ``--slots`` packs sharing the GPU. Measured pack steps (the device check's ``pack`` phase) replace the model for
  their backbone, and the model's error against them is printed.
* **bytes and train.compile** (``--fusion``, default ``benchmarks/fusion/cpu-inductor.json`` from
  ``benchmarks/bench_fusion.py``): the roofline's bytes per token and block as counted on CPU for each backbone and
  width (eager kernels' reads and writes), else the analytic rule; the compiled path (``train.compile: graphs``):
  the shared kernels x the counted kernel ratio at the compiled bytes, replayed as CUDA graphs, the per-run kernels
  eager. The last line takes, per group, the faster of the eager and the compiled pack.
* **NLP study** (modelled): forward FLOPs 2 x params x tokens of every model's prompts (ICL, zero-shot, sweep;
  tokens per prompt (k + 1) x 8), time max(FLOPs / (peak at the model's precision x 40 %), batches x weight
  bytes / bandwidth); added to every total.
* **analytic model**: max(compute, memory) + launches x 7.5 us (5-10 us), printed beside each measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mambaicl.analysis import cost, fusion, nlp_cost, step_model
from mambaicl.config import load_yaml
from mambaicl.config.containers import DEFAULT_GPU_SLOTS
from mambaicl.validation import validate

REPO = Path(__file__).resolve().parents[1]
MEASURED_CONFIG = REPO / "workflow" / "config" / "paper.yaml"   # the device check benches paper.yaml's models
LATEST_DEVICE_CHECK = REPO / "benchmarks" / "gpu" / "runs" / "2026-11-30-h200" / "run1-results.jsonl"  # all phases
FUSION_COUNTS = REPO / "benchmarks" / "fusion" / "cpu-inductor.json"  # benchmarks/bench_fusion.py on paper.yaml
SPEC_FACTS = {"runs": 234, "tokens": 2.19e12, "flops": 29.2e18}  # spec 13, cost of the paper config
H200_FACTS = [  # spec / run 1: (label, ms per step, GPU busy ms, kernels)
    ("GPT-2 standard, LR, 82 tokens, fp32", 23.3, 12.1, 814),
    ("Mamba standard on mamba-ssm kernels, 82 tokens, fp32", 66.4, 30.9, 1788),
]


def load_config(path) -> dict:
    config = load_yaml(path)
    validate(config)
    return config


def read_rows(path) -> list[dict]:
    """The device check's JSON lines; none for ``none`` (or no path). A missing or corrupt file is an error naming
    it: the estimate is never silently made without the measurement asked for."""
    if not path or str(path) == "none":
        return []
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"cost_model: --measured {path}: no such file (give a device check's results.jsonl, or "
                         "`--measured none` for the analytic model alone)")
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SystemExit(f"cost_model: --measured {path}, line {i}: not JSON ({e.msg}); the file is damaged, "
                                 "copy it again from the device check's OUT folder") from None
    return rows


def shape_of_row(reference: dict):
    def shape(row: dict) -> tuple:
        model = reference["models"][row["pair"].split(":")[1]]
        return (row["backbone"], model["d_model"], model["n_layer"])
    return shape


def profile_launches(config: dict, rt: cost.RunType, batch: int = 4) -> int:
    """Leaf aten ops of one training step (forward, loss, backward, Adam) on CPU: the kernels it would
    launch on a GPU (launch count does not depend on batch; CPU has no mamba-ssm, so Mamba is the own scan)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from mambaicl.config import train_spec
    from mambaicl.models import build_model
    from mambaicl.tasks import task_from_spec

    spec = train_spec(config, rt.task, rt.model, 1)
    task = task_from_spec(spec["task"])
    model = build_model(spec["model"], task.token_dim, seed=0, out_dim=task.out_dim)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    points = cost.points_histogram(spec["curriculum"]["points"], spec["steps"])[-1][0]
    batch_ = task.sample(batch, points, torch.Generator().manual_seed(0))

    def step():
        opt.zero_grad()
        loss = task.loss(task.predictions(model(task.tokens(batch_)), batch_), batch_)
        loss.backward()
        opt.step()

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return sum(1 for e in prof.events() if e.name.startswith("aten::") and not e.cpu_children)


GPU_GIB = 139.0  # one H200's memory free to PyTorch: caps K by the measured peak memory per run


def _groups(types: list) -> dict:
    groups: dict = {}
    for rt in types:
        groups.setdefault(step_model.pack_key(rt), []).append(rt)
    return groups


def _peak_gib(rows: list[dict], rt, shape_of) -> float | None:
    """Peak memory of one run of ``rt`` from the fp32 row of its backbone (activations dominate: scaled by tokens x
    width x depth against the row's shape), or None without a row."""
    cands = [r for r in rows if r.get("backbone") == rt.backbone and r.get("precision") == "fp32"
             and r.get("peak_mem_gib") and r.get("phase") in ("bench", "kernels")]
    if not cands:
        return None
    r = max(cands, key=lambda r: r.get("phase") == "kernels")
    _, d, n_layer = shape_of(r)
    return r["peak_mem_gib"] * (rt.mean_tokens * rt.d_model * rt.n_layer) / (r["tokens"] * d * n_layer)


def _read_fusion(path) -> dict:
    """The fusion counts by ``backbone@width``; a missing or damaged file is an error naming it."""
    try:
        return fusion.read_counts(path)
    except ValueError as e:
        raise SystemExit(f"cost_model: --fusion: {e}") from None


def _per_token_block(fc, moved: float) -> float:
    """Bytes per token and block of a count (its embedding, read-out and loss spread over its blocks)."""
    return moved / (fc.batch * fc.tokens * fc.n_layer)


def graph_breaks(backbone: str, n_layer: int, fc) -> float:
    """Untraceable calls per step of ``n_layer`` blocks of ``backbone`` under train.compile: mamba-ssm's scan and
    causal-conv1d (pybind functions inside autograd Functions; the fusion count's opaque ops, forward and backward,
    per block) on the Mamba-family backbones. RWKV's Triton WKV is taken to trace (dynamo compiles user Triton
    kernels)."""
    if backbone not in cost.MAMBA_BACKBONES:
        return 0.0
    return fc.opaque_kernels / fc.n_layer * n_layer


def fmt_h(x: float) -> str:
    return f"{x:,.1f}" if x >= 10 else f"{x:.3g}"


def num(x: float) -> str:
    """A plain number for the last lines: one decimal, or three significant digits below 10."""
    return f"{x:.1f}" if x >= 10 else f"{x:.3g}"


def main(argv: list[str] | None = None, out=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", default=str(MEASURED_CONFIG))
    ap.add_argument("--measured", default=str(LATEST_DEVICE_CHECK),
                    help="device-check results (JSON lines); default the last complete device check in the repository; "
                         "'none': the analytic model alone")
    ap.add_argument("--profile", action="store_true", help="count launches per step with the CPU profiler")
    ap.add_argument("--slots", type=int, default=DEFAULT_GPU_SLOTS,
                    help=f"processes sharing the GPU (the profile's gpu_slots; default {DEFAULT_GPU_SLOTS}); the host "
                         "needs that many free cores")
    ap.add_argument("--matmul-efficiency", type=float, default=None,
                    help=f"fraction of {cost.TF32_FLOPS / 1e12:.0f} TFLOP/s TF32 the matmuls reach (default: the "
                         f"device check's roofline rows where measured, else {step_model.EFF_MATMUL}, an assumption)")
    ap.add_argument("--fusion", default=str(FUSION_COUNTS),
                    help="kernels and bytes per step counted on CPU, eager and compiled (benchmarks/bench_fusion.py); "
                         "default the repository's counts; 'none': the analytic bytes and no compiled path")
    ap.add_argument("--rwkv-loop", action="store_true",
                    help="RWKV on its Python-loop WKV (scan: torch) instead of the Triton WKV")
    args = ap.parse_args(argv)
    out = out or sys.stdout

    def p(*a):
        print(*a, file=out)

    config = load_config(args.configfile)
    rows = read_rows(args.measured)
    reference = load_config(MEASURED_CONFIG) if rows else config
    table = cost.index_measurements(rows, shape_of_row(reference))
    mm_measured, bw_measured = step_model.roofline_efficiencies(rows)
    eff_mm = args.matmul_efficiency or mm_measured or step_model.EFF_MATMUL
    eff_bw = bw_measured or step_model.EFF_BW
    eff_src = (f"matmuls at {eff_mm:.0%} of TF32 (" + ("given" if args.matmul_efficiency else "measured" if mm_measured
                                                       else "assumed") + f"), bytes at {eff_bw:.0%} of the bandwidth ("
               + ("measured" if bw_measured else "assumed") + ")")
    types = cost.run_types(config)
    counts = {} if args.fusion == "none" else _read_fusion(args.fusion)
    eff_src += ("; bytes counted on CPU per backbone (eager; --fusion)" if counts else
                f"; bytes by the analytic rule ({cost.ACT_PASSES} x {cost.ACT_TENSORS} fp32 tensors per token and block)")
    measured_share = step_model.share_efficiency(rows)
    share_eff = measured_share[0] if measured_share else step_model.SHARE_EFFICIENCY
    share_src = ("measured: " + ", ".join(f"{pair} {s:.2f}x of an ideal {i:.2f}x" for pair, s, i in measured_share[1])
                 if measured_share else "assumed")

    launches: dict[tuple, tuple[float, str]] = {}
    for rt in types:
        if args.profile and rt.shape not in launches:
            launches[rt.shape] = (profile_launches(config, rt), "CPU profiler, final length"
                                  + (", own scan" if rt.backbone in cost.MAMBA_BACKBONES else ""))

    def analytic(rt, tokens=None, k=1, own_scan=False):
        t = rt.mean_tokens if tokens is None else tokens
        n, src = launches.get(rt.shape) or cost.spec_launches(rt.backbone, rt.n_layer, t, own_scan)
        if rt.shape in launches:
            n *= cost.launch_ratio(rt.backbone, t, rt.final_tokens)
        return cost.analytic_step_ms(rt, n, tokens, k), n, src

    totals = dict.fromkeys(("today", "today_prop", "own_scan", "shared", "packed_one", "packed_one_prop",
                            "packed", "packed_prop", "analytic", "floor", "roofline", "compiled", "best"), 0.0)
    slots_max = args.slots
    models: dict[int, tuple] = {}
    p(f"# Cost model: {args.configfile}  ({len(types)} run types, batch {types[0].batch if types else '-'})")
    p("FLOPs ≈ 6 x params x tokens (= 6 x params x tokens per sequence x batch, per step); tokens per "
      "sequence averaged over the curriculum's points schedule, in the task's own layout.")
    p(f"roofline work: {eff_src}")
    p("ms/step: the step model (each kernel at its measured floor or its roofline work, whichever is longer); "
      "∝tok: busy time grown in proportion to tokens instead (pessimistic); no-kern: without mamba-ssm and triton")
    hdr = (f"{'task':26} {'model':24} {'backbone':15} {'shape':>7} {'params':>10} {'runs':>4} {'steps':>9} "
           f"{'tok/seq':>7} {'final':>5} {'tokens':>9} {'FLOP':>9} {'ms/step':>8} {'GPU-h':>8} {'∝tok h':>8} "
           f"{'no-kern':>8} {'model ms':>8}  source")
    p(hdr)
    for rt in types:
        a, n_launch, _ = analytic(rt)
        got = step_model.model_from_table(rt, table, stack=rt.tensors, rwkv_loop=args.rwkv_loop,
                                    eff_matmul=eff_mm, eff_bw=eff_bw)
        model, src = got or (step_model.analytic_model(rt, n_launch, rt.tensors, eff_mm, eff_bw), "analytic")
        fc = counts.get(f"{rt.backbone}@{rt.d_model}")
        compiled = None
        if fc:  # counted bytes instead of the analytic rule; the compiled step from the same counts
            model = model.with_bytes(_per_token_block(fc, fc.eager_bytes))
            compiled = model.compiled(fc.kernel_ratio, _per_token_block(fc, fc.compiled_bytes),
                                      breaks=graph_breaks(rt.backbone, rt.n_layer, fc))
        models[id(rt)] = (model, src, compiled)
        ms, ms_prop = model.pack_ms(1), step_model.proportional_pack_ms(model, 1)
        # without mamba-ssm and triton (pessimistic rule, as the own scan was measured): Mamba blocks on the own
        # scan, RWKV on its Python-loop WKV, the others as today
        if rt.backbone in cost.MAMBA_BACKBONES:
            mo = cost.measured_step_ms(rt, table, own_scan=True)
            ms_own = (mo[0] + mo[1]) if mo else analytic(rt, own_scan=True)[0]["ms"]
        else:
            loop = step_model.model_from_table(rt, table, stack=rt.tensors, rwkv_loop=True, eff_matmul=eff_mm,
                                               eff_bw=eff_bw) if rt.backbone == "rwkv" else None
            ms_own = step_model.proportional_pack_ms(loop[0], 1) if loop else ms_prop
        h, h_prop, h_own = (cost.hours(x, rt.steps, rt.n_runs) for x in (ms, ms_prop, ms_own))
        totals["today"] += h
        totals["today_prop"] += h_prop
        totals["own_scan"] += h_own
        totals["analytic"] += cost.hours(a["ms"], rt.steps, rt.n_runs)
        totals["shared"] += cost.hours(model.shared_per_run_ms(1, slots_max, efficiency=share_eff), rt.steps, rt.n_runs)
        totals["roofline"] += cost.hours(step_model.work_s(rt, rt.mean_tokens, eff_mm, eff_bw, model.act_bytes) * 1e3,
                                         rt.steps, rt.n_runs)
        p(f"{rt.task:26} {rt.model:24} {rt.backbone:15} {rt.d_model:>3}x{rt.n_layer:<3} {rt.params:>10,} "
          f"{rt.n_runs:>4} {rt.steps:>9,} {rt.mean_tokens:>7.1f} {rt.final_tokens:>5} {rt.tokens:>9.3g} "
          f"{rt.flops:>9.3g} {ms:>8.2f} {h:>8.2f} {h_prop:>8.2f} {h_own:>8.2f} {a['ms']:>8.2f}  {src}")

    # packed: per group of runs that can share kernels (module docstring)
    packs = []
    for key, group in _groups(types).items():
        runs = sum(rt.n_runs for rt in group)
        rt = group[0]
        model, src, compiled = models[id(rt)]
        peak = _peak_gib(rows, rt, shape_of_row(reference))
        k = max(1, min(runs, step_model.PACK_MAX, int(GPU_GIB // peak) if peak else step_model.PACK_MAX))
        slots = max(1, min(slots_max, int(GPU_GIB // (k * peak)) if peak else slots_max))
        measured = (table.get(rt.shape) or cost.Measured(rt.shape)).packs
        one, shared = model.per_run_ms(k), model.shared_per_run_ms(k, slots, efficiency=share_eff)
        one_prop = step_model.proportional_pack_ms(model, k) / k
        shared_prop = one_prop * shared / one
        checks = []
        for km, row in sorted(measured.items()):  # the device check's packed steps: the model's error
            modelled = model.per_run_ms(km, tokens=row["tokens"])
            checks.append((km, row["ms_per_step"] / km, modelled, row.get("gpu_kernels_per_step"), model.launches(km)))
        usable = [km for km in measured if km <= k]
        if usable:  # a measured pack size replaces the model (moved to this group's length by the model's ratio)
            km = max(usable)
            row = measured[km]
            one = row["ms_per_step"] / km * model.per_run_ms(km) / model.per_run_ms(km, tokens=row["tokens"])
            shared = one * model.shared_per_run_ms(km, slots, efficiency=share_eff) / model.per_run_ms(km)
            one_prop, shared_prop, k = one, shared, km
        graphs = compiled.shared_per_run_ms(k, slots, efficiency=share_eff) if compiled else shared
        for r in group:  # every run type of the group at its own steps and runs
            totals["compiled"] += cost.hours(graphs, r.steps, r.n_runs)
            totals["best"] += cost.hours(min(shared, graphs), r.steps, r.n_runs)
            totals["packed_one"] += cost.hours(one, r.steps, r.n_runs)
            totals["packed_one_prop"] += cost.hours(one_prop, r.steps, r.n_runs)
            totals["packed"] += cost.hours(shared, r.steps, r.n_runs)
            totals["packed_prop"] += cost.hours(shared_prop, r.steps, r.n_runs)
            totals["floor"] += cost.hours(model.busy_ms(k) / k, r.steps, r.n_runs)
        packs.append((rt, group, runs, k, slots, model, one, shared, checks, bool(usable), graphs))
    n_analytic = sum(1 for _, src, _ in models.values() if src == "analytic")
    basis = ("measured step times" if not n_analytic else "the analytic model, no device check given" if not rows
             else f"measured step times, the analytic model for {n_analytic} of {len(types)} run types")
    n_runs = sum(rt.n_runs for rt in types)
    tokens = sum(rt.tokens for rt in types)
    flops = sum(rt.flops for rt in types)
    p("")
    p(f"runs {n_runs}, training tokens {tokens:.3g}, training FLOPs {flops:.3g} ({flops / 1e18:.1f} EFLOP)")
    if "paper" in Path(args.configfile).name:
        p(f"spec 13 for paper.yaml: {SPEC_FACTS['runs']} runs, {SPEC_FACTS['tokens']:.3g} tokens, "
          f"{SPEC_FACTS['flops'] / 1e18:.1f} EFLOP; here {n_runs} runs ({n_runs - SPEC_FACTS['runs']:+d}), tokens "
          f"{tokens / SPEC_FACTS['tokens'] - 1:+.1%}, FLOPs {flops / SPEC_FACTS['flops'] - 1:+.1%}")
        p("  (tokens: what the model reads, by each task's layout -- MQAR 2N+1 = 129, CoT 3 per point -- over "
          f"the curriculum. FLOPs: mean params per token here {flops / 6 / tokens / 1e6:.2f}M, implied by spec 13 "
          f"{SPEC_FACTS['flops'] / 6 / SPEC_FACTS['tokens'] / 1e6:.2f}M; here each run type's effective count "
          "(built model, read-in/out included); spec 13's per-model counts are not recorded.)")
        p("  (GPU-hours: spec 13's naive 313-479 h assumed 5-10 us per launch as the whole step; the H200 "
          "measured 29-37 us of wall time per kernel, see below, so today's figure is about 3-4x higher.)")
    p(f"compute bound: {flops / cost.TF32_FLOPS / 3600:,.1f} GPU-h at 100 % of {cost.TF32_FLOPS / 1e12:.0f} "
      f"TFLOP/s TF32, {flops / cost.TF32_FLOPS / 0.4 / 3600:,.1f} h at 40 %")

    p("")
    p("## Analytic model: t = max(compute, memory) + launches x launch cost")
    p(f"  compute = 6 x params x tokens x batch / {cost.TF32_FLOPS / 1e12:.0f} TFLOP/s (dense TF32 peak of an "
      "H200 for fp32 training; bf16 ≈ 790 TFLOP/s; lower in practice)")
    p(f"  memory = ({cost.ACT_PASSES} passes x {cost.ACT_TENSORS} fp32 tensors of B x T x d per layer + "
      f"{cost.OPT_BYTES} B per parameter for Adam) / {cost.MEM_BW / 1e12:.1f} TB/s (device copy)")
    p(f"  launch cost {cost.LAUNCH_S * 1e6:.1f} us (range {cost.LAUNCH_RANGE_S[0] * 1e6:.0f}-"
      f"{cost.LAUNCH_RANGE_S[1] * 1e6:.0f} us); launches: "
      + ("CPU profiler (leaf aten ops of one step)" if args.profile else
         "spec 13 (GPT-2 624; Mamba 1,567 kernels / 38,915 own scan; S4 2,483; RWKV 8,103 @82 to "
         "16,747 @202 tokens), scaled by block count"))
    for label, ms, busy, kernels in H200_FACTS:
        p(f"  H200 {label}: {ms} ms, GPU busy {busy} ms, {kernels} kernels -> host gap "
          f"{ms - busy:.1f} ms = {(ms - busy) / kernels * 1e3:.1f} us per launch")
    p("  the model misses the GPU-side time of many small kernels: measured busy per kernel 14.9 us (GPT-2), "
      "17.3 us (Mamba), wall per kernel 28.6 and 37.1 us")
    p("  model against measurement (fp32, at the measured length):")
    by_shape = {rt.shape: rt for rt in types}
    for shape, m in sorted(table.items()):
        rt = by_shape.get(shape)
        for row, own in ((m.main, False), (m.fallback, True)):
            if row is None or rt is None:
                continue
            a, n, src = analytic(rt, tokens=row["tokens"], own_scan=own)
            p(f"    {shape[0]:15} {shape[1]}x{shape[2]:<3} {row['phase']:8} T={row['tokens']:<4} measured "
              f"{row['ms_per_step']:8.2f} ms, model {a['ms']:8.2f} ms (compute {a['compute_ms']:.2f}, memory "
              f"{a['memory_ms']:.2f}, {n:,.0f} launches {a['launch_ms']:.2f}; {src}): error "
              f"{cost.relative_error(a['ms'], row['ms_per_step']):+.0%}")
    p(f"  analytic model alone for the whole config: {fmt_h(totals['analytic'])} GPU-h")

    p("")
    n_packs_measured = sum(1 for *_, used, _ in packs if used)
    p("## Packing: K runs folded into one process's kernels (" + (
        "modelled, not measured" if not n_packs_measured else
        f"measured pack steps used for {n_packs_measured} of {len(packs)} groups, the rest modelled") + ")")
    p(f"  a pack step: host time (launches x host time per launch; launches = the unpacked step's + one stack per "
      f"buffer + {step_model.PER_RUN_KERNELS} per further run) + GPU time (every shared kernel max(floor, K x "
      f"its share of the step's roofline work: FLOPs at {eff_mm:.0%} of "
      f"{cost.TF32_FLOPS / 1e12:.0f} TFLOP/s TF32, bytes at {eff_bw:.0%} of {cost.MEM_BW / 1e12:.1f} TB/s), "
      "per-run and stacking kernels at the floor). Floor and host time per launch: the device check's unpacked "
      "row of the backbone, calibrated to reproduce it exactly at K = 1.")
    p(f"  gpu_slots: packs sharing the GPU (at most {slots_max}, and what fits in {GPU_GIB:.0f} GiB at the measured "
      f"peak memory per run); their host gaps hold each other's kernels: speed-up 1 + (min(slots, (host + busy) / "
      f"busy) - 1) x {share_eff:.2f} (the least fraction of the ideal reached in the device check's share phase; "
      f"{share_src}).")
    p(f"  {'backbone':15} {'shape':>7} {'tok/seq':>7} {'run types':>9} {'runs':>4} {'K':>3} {'gpu_slots':>9} "
      f"{'launches':>8} {'floor us':>8} {'knee K':>7} {'ms/run K=1':>10} {'ms/run K':>8} {'shared':>8} "
      f"{'graphs':>8}  tasks")
    for rt, group, runs, k, slots, model, one, shared, checks, used, graphs in packs:
        p(f"  {rt.backbone:15} {rt.d_model:>3}x{rt.n_layer:<3} {rt.mean_tokens:>7.1f} {len(group):>9} {runs:>4} "
          f"{k:>3} {slots:>9} {model.launches(k):>8,.0f} {model.floor_s * 1e6:>8.1f} {model.knee():>7.0f} "
          f"{model.per_run_ms(1):>10.2f} {one:>8.2f} {shared:>8.2f} {graphs:>8.2f}  "
          + ", ".join(dict.fromkeys(r.task for r in group)) + ("  [measured pack]" if used else ""))
        for km, measured_ms, modelled, kernels, launches in checks:
            p(f"      device check, pack of {km}: {measured_ms:.2f} ms per run step measured, model {modelled:.2f}: "
              f"error {cost.relative_error(modelled, measured_ms):+.0%}"
              + (f"; kernels per pack step {kernels:,} measured, {launches:,.0f} modelled" if kernels else ""))
    p("  K: every run of the group (seeds, learning rates, tasks of one layout), at most "
      f"{step_model.PACK_MAX} and what fits at the measured peak memory per run. Without measured pack steps these are a "
      "model: the per-kernel floor is latency measured unpacked, and how far packing fills it is the model's guess.")

    if counts:
        p("")
        p(f"## train.compile: what inductor fuses, counted on CPU ({args.fusion}; benchmarks/bench_fusion.py)")
        p("  one step's forward, loss and backward (no optimiser), eager (aten ops, CUDA's one-kernel norms and GELU) "
          "and compiled (inductor's kernels after fusion, extern matmuls included); mamba-ssm's scan, causal-conv1d and "
          "the WKV opaque stand-ins in both. Bytes: each kernel's reads and writes, per token and block; the roofline's "
          "bytes above use the eager counts where given (the analytic rule's "
          f"{cost.ACT_PASSES} x {cost.ACT_TENSORS} fp32 tensors otherwise). The compiled path: shared kernels x "
          "the kernel ratio at the fused bytes, replayed as CUDA graphs (train.compile: graphs; no host time per "
          "kernel), the per-run kernels eager; in the Mamba family mamba-ssm's scan and causal-conv1d break the graph "
          "(pybind calls dynamo cannot trace): each call eager, plus one graph launch more (the 'breaks/block' column: "
          "forward and backward, 4 per Mamba mixer). A CPU proxy: inductor's C++ fusion, not its Triton one.")
        p(f"  {'backbone':16} {'width':>5} {'eager k':>8} {'fused k':>8} {'k ratio':>7} {'eager B/tok':>11} "
          f"{'fused B/tok':>11} {'B ratio':>7} {'rule B/tok':>10} {'breaks/block':>12}")
        for key, fc in sorted(counts.items()):
            p(f"  {fc.backbone:16} {fc.d_model:>5} {fc.eager_kernels:>8} {fc.compiled_kernels:>8} {fc.kernel_ratio:>7.2f} "
              f"{_per_token_block(fc, fc.eager_bytes):>11,.0f} {_per_token_block(fc, fc.compiled_bytes):>11,.0f} "
              f"{fc.byte_ratio:>7.2f} {cost.ACT_PASSES * cost.ACT_TENSORS * 4 * fc.d_model:>10,} "
              f"{graph_breaks(fc.backbone, 1, fc):>12g}")
        missing = sorted({f"{rt.backbone}@{rt.d_model}" for rt in types} - set(counts))
        if missing:
            p(f"  not counted (analytic bytes, eager only): {', '.join(missing)}")

    nlp = nlp_cost.nlp_costs(config)
    if nlp:
        p("")
        p("## NLP study (modelled): forward passes of every model's prompts on one GPU")
        p(f"  tokens per prompt (k + 1) x {nlp_cost.NLP_TOKENS_PER_LINE} (assumed BPE tokens per demonstration line; "
          "padding neglected: length-sorted batches); ICL and zero-shot on 18 tasks, the sweep on the tasks with "
          f"k + 1 inputs (spec 7.4: {', '.join(f'k <= {a}: {b}' for a, b in nlp_cost.NLP_TASKS_AT_K)}); FLOPs = 2 x "
          f"params x tokens; time = max(FLOPs / (peak x {nlp_cost.NLP_UTILISATION:.0%}), batches x weight bytes / "
          f"{cost.MEM_BW / 1e12:.1f} TB/s), peak {nlp_cost.FP32_FLOPS / 1e12:.0f} TFLOP/s fp32 (TF32 off), "
          f"{nlp_cost.HALF_FLOPS / 1e12:.0f} fp16; precision and batch size by mambaicl.nlp.placement; Mamba on "
          "mamba-ssm's kernels (transformers' reference scan loops over tokens in Python: much slower)")
        p(f"  {'model':20} {'params':>14} {'dtype':>8} {'batch':>5} {'prompts':>8} {'tokens':>9} {'FLOP':>9} "
          f"{'GPU-h':>7}  bound")
        for c in nlp:
            p(f"  {c.model:20} {c.params:>14,} {c.dtype:>8} {c.batch:>5} {c.prompts:>8,} {c.tokens:>9.3g} "
              f"{c.flops:>9.3g} {c.seconds / 3600:>7.3f}  {c.bound}")
        nlp_h = sum(c.seconds for c in nlp) / 3600
        p(f"  NLP study: {sum(c.flops for c in nlp):.3g} FLOP, {nlp_h:.2f} GPU-hours (added to every total below)")
        for key in ("today", "today_prop", "own_scan", "shared", "packed_one", "packed_one_prop", "packed",
                    "packed_prop", "analytic", "floor", "compiled", "best"):
            totals[key] += nlp_h
        totals["nlp"] = nlp_h

    p("")
    p("## Totals (GPU-hours; trainings fp32, the NLP study at its per-model precision)")
    p("  [in brackets: busy time grown in proportion to tokens, the pessimistic rule]")
    p(f"  one run at a time, {basis} (mamba-ssm kernels; RWKV on the Triton WKV"
      + (", Python loop" if args.rwkv_loop else "") + f"): {fmt_h(totals['today'])} [{fmt_h(totals['today_prop'])}]")
    p(f"  one run at a time, without mamba-ssm and triton (own scan; RWKV on its Python loop): {fmt_h(totals['own_scan'])}")
    p(f"  {slots_max} processes sharing the GPU, one run each: {fmt_h(totals['shared'])}")
    p(f"  packed, one pack at a time: {fmt_h(totals['packed_one'])} [{fmt_h(totals['packed_one_prop'])}]")
    p(f"  packed, up to {slots_max} packs sharing the GPU (gpu_slots), eager, "
      + ("a model, not a measurement" if not n_packs_measured else "partly measured")
      + f": {fmt_h(totals['packed'])} [{fmt_h(totals['packed_prop'])}]")
    p(f"  of which GPU-busy time of the packs (the bound no sharing removes): {fmt_h(totals['floor'])}; the roofline "
      f"work alone (no floors, no host time; {eff_src}): {fmt_h(totals['roofline'])}; compute bound at 100 % TF32: "
      f"{flops / cost.TF32_FLOPS / 3600:,.1f}")
    speedups = cost.compile_speedups(rows)
    if speedups:
        p("  train.compile, measured (the device check's compile phase; speed-up of a step against eager, not applied "
          "to the totals): " + ", ".join(f"{b} K={k} {mode} {x:.2f}x" + ("" if breaks is None else f" ({breaks} graph breaks)")
                                        for b, k, mode, x, breaks in speedups))
    if counts:
        p(f"  packed, train.compile: graphs, up to {slots_max} packs sharing the GPU (fusion counted on CPU, a model): "
          f"{fmt_h(totals['compiled'])}")
        p("  packed, each group eager or train.compile: graphs, whichever the model finds faster: "
          f"{fmt_h(totals['best'])}")
    else:  # no compiled path: every group's faster pack is its eager one
        p("  train.compile: no fusion counts (--fusion none): the packed figure is eager")
    p(f"estimated GPU-hours today (one run at a time, fp32, {basis}): {num(totals['today'])}")
    p(f"estimated packed GPU-hours: {num(totals['best'])}")
    return {**totals, "runs": n_runs, "tokens": tokens, "flops": flops, "run_types": len(types)}


if __name__ == "__main__":
    main()
