"""GPU cost model of a workflow config's trainings (issue 16, item 1).

    python benchmarks/cost_model.py --configfile workflow/config/paper.yaml \
        [--measured benchmarks/gpu/runs/2026-11-30-h200/run1-results.jsonl] [--profile]

Prints, per run type (task, model): parameters, runs (models x seeds), steps, tokens per sequence averaged
over the curriculum's points schedule (the task's own token layout: 2 per point interleaved, 3 for CoT,
2N + 1 for MQAR), training tokens, FLOPs (≈ 6 x params x tokens, i.e. 6 x params x tokens x batch per step),
and GPU-hours. Then the totals:

* **today**: one run at a time, fp32, from measured H200 step times (``--measured``: the device check's
  fp32 rows; Mamba-containing backbones from the ``kernels`` phase, i.e. with mamba-ssm). Rule to another
  length T: t(T) = (ms - busy) * L(T)/L(T_m) + busy * T/T_m -- the host launch floor is constant in length
  (launches L constant, except RWKV: affine in tokens), the GPU-busy part is proportional to tokens; the same
  backbone at another depth is scaled by the block-count ratio. Backbones never measured: the analytic model.
* **without mamba-ssm**: Mamba-containing backbones on the own scan (``fallback`` phase).
* **8 processes sharing the GPU** (measured speed-up 1.72x Mamba, 2.17x Transformer, run 1's ``share`` phase).
* **packed (modelled, not measured)**: K runs of one backbone spec, token layout and token schedule folded into
  the same kernels of one process. The host launch floor is paid once per pack; each of the step's kernels costs
  max(per-kernel floor, K x its bytes / 4.3 TB/s) (or K x compute when larger): the measured GPU-busy time per
  kernel (~15 us) is latency, since those kernels move a few MB, far below what the bandwidth moves in 15 us.
  Per-kernel bytes: the analytic memory model's bytes per step (from the run type's mean tokens) over its kernels.
  K: every run of the group, up to 64 and what fits in GPU memory (measured peak per run); gpu_slots: packs per
  GPU so that one pack's host gaps are filled by others (up to 8, the measured sharing count).
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

from mambaicl.analysis import cost
from mambaicl.config import load_yaml
from mambaicl.validation import validate

REPO = Path(__file__).resolve().parents[1]
MEASURED_CONFIG = REPO / "workflow" / "config" / "paper.yaml"   # the device check benches paper.yaml's models
SPEC_FACTS = {"runs": 234, "tokens": 2.19e12, "flops": 29.2e18}  # spec 13, cost of the paper config
SHARE_DEFAULT = {"mamba": 1.72, "transformer": 2.17}
H200_FACTS = [  # spec / run 1: (label, ms per step, GPU busy ms, kernels)
    ("GPT-2 standard, LR, 82 tokens, fp32", 23.3, 12.1, 814),
    ("Mamba standard on mamba-ssm kernels, 82 tokens, fp32", 66.4, 30.9, 1788),
]


def load_config(path) -> dict:
    config = load_yaml(path)
    validate(config)
    return config


def read_rows(path) -> list[dict]:
    if not path:
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def shape_of_row(reference: dict):
    def shape(row: dict) -> tuple:
        model = reference["models"][row["pair"].split(":")[1]]
        return (row["backbone"], model["d_model"], model["n_layer"])
    return shape


def share_speedups(rows: list[dict]) -> dict[str, float]:
    out = dict(SHARE_DEFAULT)
    for r in rows:
        if r.get("phase") == "share" and r.get("speedup_vs_one"):
            out["mamba" if r["pair"].endswith(":mamba") else "transformer"] = r["speedup_vs_one"]
    return out


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
        groups.setdefault(cost.pack_key(rt), []).append(rt)
    return groups


def _peak_gib(rows: list[dict], rt) -> float | None:
    """Measured peak memory of one run of ``rt``'s backbone (fp32 row of its shape, else of its backbone scaled
    by blocks and tokens), or None."""
    cands = [r for r in rows if r.get("backbone") == rt.backbone and r.get("precision") == "fp32"
             and r.get("peak_mem_gib") and r.get("phase") in ("bench", "kernels")]
    if not cands:
        return None
    r = max(cands, key=lambda r: r.get("phase") == "kernels")
    return r["peak_mem_gib"] * rt.mean_tokens / r["tokens"]


def fmt_h(x: float) -> str:
    return f"{x:,.1f}" if x >= 10 else f"{x:.3g}"


def num(x: float) -> str:
    """A plain number for the last lines: one decimal, or three significant digits below 10."""
    return f"{x:.1f}" if x >= 10 else f"{x:.3g}"


def main(argv: list[str] | None = None, out=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", default=str(MEASURED_CONFIG))
    ap.add_argument("--measured", default=None, help="device-check results (JSON lines)")
    ap.add_argument("--profile", action="store_true", help="count launches per step with the CPU profiler")
    args = ap.parse_args(argv)
    out = out or sys.stdout

    def p(*a):
        print(*a, file=out)

    config = load_config(args.configfile)
    rows = read_rows(args.measured)
    reference = load_config(MEASURED_CONFIG) if rows else config
    table = cost.index_measurements(rows, shape_of_row(reference))
    share = share_speedups(rows)
    types = cost.run_types(config)

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

    totals = {"today": 0.0, "own_scan": 0.0, "shared": 0.0, "packed": 0.0, "analytic": 0.0}
    p(f"# Cost model: {args.configfile}  ({len(types)} run types, batch {types[0].batch if types else '-'})")
    p("FLOPs ≈ 6 x params x tokens (= 6 x params x tokens per sequence x batch, per step); tokens per "
      "sequence averaged over the curriculum's points schedule, in the task's own layout.")
    hdr = (f"{'task':26} {'model':24} {'backbone':15} {'shape':>7} {'params':>10} {'runs':>4} {'steps':>9} "
           f"{'tok/seq':>7} {'final':>5} {'tokens':>9} {'FLOP':>9} {'ms/step':>8} {'GPU-h':>8} "
           f"{'no-kern':>8} {'model ms':>8}  source")
    p(hdr)
    for rt in types:
        m = cost.measured_step_ms(rt, table)
        a, _, _ = analytic(rt)
        ms, src = (m[0] + m[1], m[2]) if m else (a["ms"], "analytic")
        mo = cost.measured_step_ms(rt, table, own_scan=True) if rt.backbone in cost.MAMBA_BACKBONES else m
        ao, _, _ = analytic(rt, own_scan=True)
        ms_own = mo[0] + mo[1] if mo else ao["ms"]
        rt.sources = {"ms": ms, "src": src}
        h, h_own = cost.hours(ms, rt.steps, rt.n_runs), cost.hours(ms_own, rt.steps, rt.n_runs)
        totals["today"] += h
        totals["own_scan"] += h_own
        totals["analytic"] += cost.hours(a["ms"], rt.steps, rt.n_runs)
        sp = share["mamba" if rt.backbone in cost.MAMBA_BACKBONES else "transformer"]
        totals["shared"] += h / sp
        p(f"{rt.task:26} {rt.model:24} {rt.backbone:15} {rt.d_model:>3}x{rt.n_layer:<3} {rt.params:>10,} "
          f"{rt.n_runs:>4} {rt.steps:>9,} {rt.mean_tokens:>7.1f} {rt.final_tokens:>5} {rt.tokens:>9.3g} "
          f"{rt.flops:>9.3g} {ms:>8.2f} {h:>8.2f} {h_own:>8.2f} {a['ms']:>8.2f}  {src}")

    # packed: per group of runs that can share kernels, the pack model (module docstring)
    packs = []
    for key, group in _groups(types).items():
        runs = sum(rt.n_runs for rt in group)
        rt = group[0]
        m = cost.measured_step_ms(rt, table)
        host, busy = (m[0], m[1]) if m else (analytic(rt)[0]["launch_ms"], analytic(rt)[0]["ms"] - analytic(rt)[0]["launch_ms"])
        pm = cost.pack_model(rt, host, busy, cost.measured_kernels(rt, table) if m else None)
        peak = _peak_gib(rows, rt)
        k = max(1, min(runs, cost.PACK_MAX, int(GPU_GIB // peak) if peak else cost.PACK_MAX))
        slots = max(1, min(8, round(pm.pack_ms(k) / pm.busy_ms(k)), int(GPU_GIB // (k * peak)) if peak else 8))
        for r in group:  # every run type of the group at its own steps and runs, K folded
            totals["packed"] += cost.hours(pm.per_run_ms(k) * (r.mean_tokens / rt.mean_tokens if m is None else 1),
                                           r.steps, r.n_runs)
        packs.append((rt, group, runs, k, slots, pm))
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
    p("## Packing (modelled, not measured): K runs folded into one process's kernels")
    p("  per step of a pack: host launch time once + kernels x max(per-kernel floor, K x bytes per kernel / "
      f"{cost.MEM_BW / 1e12:.1f} TB/s) (or K x compute if larger); floor = measured GPU-busy time per kernel; "
      "bytes per kernel = the analytic memory model's bytes per step / kernels per step; extra = today's busy "
      "time per kernel beyond the floor at this length (the step rule's token-proportional part), paid K times")
    p(f"  {'backbone':15} {'shape':>7} {'tok/seq':>7} {'run types':>9} {'runs':>4} {'K':>3} {'gpu_slots':>9} "
      f"{'kernels':>7} {'floor us':>8} {'extra us':>8} {'MB/kernel':>9} {'knee K':>7} {'ms/run K=1':>10} "
      f"{'ms/run K':>8}  tasks")
    for rt, group, runs, k, slots, pm in packs:
        p(f"  {rt.backbone:15} {rt.d_model:>3}x{rt.n_layer:<3} {rt.mean_tokens:>7.1f} {len(group):>9} {runs:>4} "
          f"{k:>3} {slots:>9} {pm.kernels:>7,.0f} {pm.floor_s * 1e6:>8.1f} {pm.extra_s * 1e6:>8.1f} "
          f"{pm.kernel_bytes / 1e6:>9.2f} "
          f"{pm.knee():>7.0f} {pm.per_run_ms(1):>10.2f} {pm.per_run_ms(k):>8.2f}  "
          + ", ".join(dict.fromkeys(r.task for r in group)))
    p("  K: every run of the group (seeds, learning rates, tasks of one layout), at most "
      f"{cost.PACK_MAX} and what fits in {GPU_GIB:.0f} GiB at the measured peak memory per run; gpu_slots: packs "
      "sharing the GPU so that one pack's host gaps hold another's kernels, (host + busy) / busy, at most 8 (the "
      "measured sharing count). The floor and per-kernel bytes are a model: a packed step has not been timed.")

    nlp = cost.nlp_costs(config)
    if nlp:
        p("")
        p("## NLP study (modelled): forward passes of every model's prompts on one GPU")
        p(f"  tokens per prompt (k + 1) x {cost.NLP_TOKENS_PER_LINE} (assumed BPE tokens per demonstration line; "
          "padding neglected: length-sorted batches); ICL and zero-shot on 18 tasks, the sweep on the tasks with "
          f"k + 1 inputs (spec 7.4: {', '.join(f'k <= {a}: {b}' for a, b in cost.NLP_TASKS_AT_K)}); FLOPs = 2 x "
          f"params x tokens; time = max(FLOPs / (peak x {cost.NLP_UTILISATION:.0%}), batches x weight bytes / "
          f"{cost.MEM_BW / 1e12:.1f} TB/s), peak {cost.FP32_FLOPS / 1e12:.0f} TFLOP/s fp32 (TF32 off), "
          f"{cost.HALF_FLOPS / 1e12:.0f} fp16; precision and batch size by mambaicl.nlp.placement; Mamba on "
          "mamba-ssm's kernels (transformers' reference scan loops over tokens in Python: much slower)")
        p(f"  {'model':20} {'params':>14} {'dtype':>8} {'batch':>5} {'prompts':>8} {'tokens':>9} {'FLOP':>9} "
          f"{'GPU-h':>7}  bound")
        for c in nlp:
            p(f"  {c.model:20} {c.params:>14,} {c.dtype:>8} {c.batch:>5} {c.prompts:>8,} {c.tokens:>9.3g} "
              f"{c.flops:>9.3g} {c.seconds / 3600:>7.3f}  {c.bound}")
        nlp_h = sum(c.seconds for c in nlp) / 3600
        p(f"  NLP study: {sum(c.flops for c in nlp):.3g} FLOP, {nlp_h:.2f} GPU-hours (added to every total below)")
        for key in ("today", "own_scan", "shared", "packed", "analytic"):
            totals[key] += nlp_h
        totals["nlp"] = nlp_h

    p("")
    p("## Totals (GPU-hours; trainings fp32, the NLP study at its per-model precision)")
    p(f"  one run at a time, measured step times (mamba-ssm kernels): {fmt_h(totals['today'])}")
    p(f"  one run at a time, without mamba-ssm (own scan): {fmt_h(totals['own_scan'])}")
    p(f"  8 processes sharing the GPU (measured speed-up {share['mamba']}x Mamba-containing, "
      f"{share['transformer']}x others): {fmt_h(totals['shared'])}")
    p("  packed (modelled): K runs of one backbone spec, layout and token schedule per process, host launch floor "
      "once per pack, each kernel max(floor, K x bytes / bandwidth) -- a model, not a measurement: "
      + fmt_h(totals["packed"]))
    p(f"estimated GPU-hours today (one run at a time, fp32, measured step times): {num(totals['today'])}")
    p(f"estimated packed GPU-hours: {num(totals['packed'])}")
    return {**totals, "runs": n_runs, "tokens": tokens, "flops": flops, "run_types": len(types)}


if __name__ == "__main__":
    main()
