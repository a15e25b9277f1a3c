"""CPU training-step benchmark for every registered backbone (spec 9.3).

For each name in ``mambaicl.models.BACKBONES`` it builds the ICL model (read-in, backbone, read-out) at a
common size, runs warm-up steps, then times forward + backward + Adam steps and prints a table:

    backbone | effective params | wall s/step (median) | CPU s/step (median) | ratio to gpt2 | peak memory

Each backbone runs in its own child process. "peak MiB" is the peak resident set during the timed steps
(VmHWM, reset through /proc/self/clear_refs after the warm-up) minus the resident set at their start, taken
after glibc's malloc_trim has returned freed heap memory to the OS. So it is the extra memory one training
step needs at its high point (activations and saved tensors, temporaries, gradient buffers), on top of
parameters, gradients and Adam state, which are already resident; allocator fragmentation can add to it.
Where the reset is not allowed it falls back to ru_maxrss minus the resident set before the first step,
which also counts lazy library initialisation. Wall time is sensitive to other load on the
machine; CPU time (process_time) much less so, but it adds up all threads.

On a shared 2-core machine with other work running, OpenMP's default spin-waiting makes every multi-threaded
op pay for descheduled threads (steps 5-30x slower, erratic). ``--passive`` runs the children with
OMP_WAIT_POLICY=PASSIVE, which removes that pathology; say which setting a reported number used.

    python benchmarks/bench_backbones.py                # d_model 64, 4 layers, batch 64, 80 tokens, 2 threads
    python benchmarks/bench_backbones.py --threads 1 --steps 10 --only gpt2 mamba
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def measure(name: str, args: argparse.Namespace) -> dict:
    import torch

    from mambaicl.models import build_model
    from mambaicl.analysis.scaling import peak_rss_kib, rss_kib, trim_and_reset_peak

    torch.set_num_threads(args.threads)
    spec = {"backbone": name, "d_model": args.d_model, "n_layer": args.n_layer, "n_head": args.n_head,
            "max_tokens": max(args.tokens, 2048)}
    model = build_model(spec, token_dim=args.token_dim, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randn(args.batch, args.tokens, args.token_dim, generator=gen)
    target = torch.randn(args.batch, args.tokens, 1, generator=gen)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = (model(tokens) - target).pow(2).mean()
        loss.backward()
        opt.step()

    rss0 = rss_kib()
    for _ in range(args.warmup):
        step()
    # After warm-up: hand freed heap memory back to the OS, so that the baseline holds only live memory
    # (parameters, gradients, Adam state, library caches) and the peak below is what one step needs on top.
    reset = trim_and_reset_peak()
    if reset:
        rss0 = rss_kib()
    wall, cpu = [], []
    for _ in range(args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    peak = peak_rss_kib(reset)
    return {"backbone": name, "params": model.effective_parameters(), "wall": statistics.median(wall),
            "cpu": statistics.median(cpu), "peak_mib": max(0, peak - rss0) / 1024}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4, help="attention heads (gpt2 and the hybrids)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--tokens", type=int, default=80)
    p.add_argument("--token-dim", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--only", nargs="*", help="backbone names (default: all registered)")
    p.add_argument("--passive", action="store_true", help="children run with OMP_WAIT_POLICY=PASSIVE")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:
        print(json.dumps(measure(args.child, args)))
        return

    from mambaicl.models import BACKBONES

    names = args.only or list(BACKBONES)
    passthrough = [a for a in (argv if argv is not None else sys.argv[1:])]
    if "--only" in passthrough:  # children get one name each
        passthrough = passthrough[: passthrough.index("--only")] + [
            a for a in passthrough[passthrough.index("--only") + 1 + len(args.only):]]
    rows = []
    for name in names:
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"} if args.passive else None
        proc = subprocess.run([sys.executable, __file__, *passthrough, "--child", name], capture_output=True,
                              text=True, env=env)
        if proc.returncode:
            err = (proc.stderr.strip().splitlines() or ["failed"])[-1]
            rows.append({"backbone": name, "error": err})
        else:
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    base = next((r for r in rows if r["backbone"] == "gpt2" and "wall" in r), None)

    policy = "PASSIVE" if args.passive else os.environ.get("OMP_WAIT_POLICY", "default")
    print(f"d_model {args.d_model}, {args.n_layer} layers, batch {args.batch}, {args.tokens} tokens, "
          f"token_dim {args.token_dim}, {args.threads} threads; median of {args.steps} steps after {args.warmup} "
          f"warm-up; Adam; OMP_WAIT_POLICY {policy}")
    head = f"{'backbone':<16} {'params':>9} {'wall s/step':>12} {'cpu s/step':>11} {'wall/gpt2':>10} " \
           f"{'cpu/gpt2':>9} {'peak MiB':>9}"
    print(head)
    print("-" * len(head))
    for r in rows:
        if "error" in r:
            print(f"{r['backbone']:<16} error: {r['error']}")
            continue
        rw = f"{r['wall'] / base['wall']:.2f}" if base else "-"
        rc = f"{r['cpu'] / base['cpu']:.2f}" if base else "-"
        print(f"{r['backbone']:<16} {r['params']:>9,} {r['wall']:>12.3f} {r['cpu']:>11.3f} {rw:>10} {rc:>9} "
              f"{r['peak_mib']:>9.1f}")
    print("peak MiB: peak resident set during the timed steps minus the resident set at their start (see --help).")


if __name__ == "__main__":
    main()
