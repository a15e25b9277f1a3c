"""Is data sampling a bottleneck? Time one paper-size training batch per task against one training step.

For every task: draw 64 prompts at the end of its default curriculum (full dimension, final number
of points) on the chosen device, and time one training step of the paper-size Transformer
(GPT-2 backbone, d_model 256, 12 layers, 8 heads, no positional encoding) on that very batch:
forward, loss, backward and an Adam step. Prints median times and their ratio.

    python benchmarks/bench_sampling.py                 # CPU
    python benchmarks/bench_sampling.py --device cuda   # GPU, when available
    python benchmarks/bench_sampling.py --tasks linear_regression mqar --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mambaicl.models import build_model
from mambaicl.tasks import TASKS

PAPER_TRANSFORMER = {"backbone": "gpt2", "d_model": 256, "n_layer": 12, "n_head": 8,
                     "positional_encoding": "none"}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_time(fn, repeats: int, device: torch.device, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_task(name: str, device: torch.device, batch_size: int, repeats: int, step_repeats: int,
               with_step: bool, micro_batch: int | None = None) -> dict:
    cls = TASKS[name]
    cfg = cls.default_config()
    task = cls(n_dims=cfg["n_dims"])
    dims, points = cfg["curriculum"]["dims"]["end"], cfg["curriculum"]["points"]["end"]
    gen = torch.Generator(device=device).manual_seed(0)
    sample = lambda: task.sample(batch_size, points, gen, n_dims_active=dims)  # noqa: E731
    t_sample = _median_time(sample, repeats, device)
    batch = sample()
    n_tokens = task.tokens(batch).shape[1]
    row = {"task": name, "points": points, "tokens": n_tokens, "sample_s": t_sample}
    if with_step:
        model = build_model(PAPER_TRANSFORMER, task.token_dim, seed=0, out_dim=task.out_dim).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

        # Long prompts (many-outlier: 1,024 tokens) do not fit in host memory as one batch of 64
        # (the 12 layers' attention maps alone exceed 20 GB): accumulate gradients over micro-batches,
        # the same arithmetic as one step on the whole batch.
        micro = micro_batch or (batch_size if n_tokens <= 512 else 8)
        row["micro_batch"] = micro

        def step():
            opt.zero_grad(set_to_none=True)
            for start in range(0, batch_size, micro):
                part = batch[start : start + micro]
                loss = task.loss(model.predict(task, part), part) * (len(part) / batch_size)
                loss.backward()
            opt.step()

        row["step_s"] = _median_time(step, step_repeats, device)
        row["ratio"] = t_sample / row["step_s"]
    return row


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tasks", nargs="*", default=[n for n, c in TASKS.items() if not c.eval_only])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=20, help="timed sampling calls per task")
    ap.add_argument("--step-repeats", type=int, default=3, help="timed training steps per task")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--no-step", action="store_true", help="time sampling only")
    ap.add_argument("--micro-batch", type=int, default=None,
                    help="prompts per forward/backward in the timed step (default: whole batch, 8 beyond 512 tokens)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"batch {args.batch_size}")
    print(f"{'task':28s} {'points':>6s} {'tokens':>6s} {'sample ms':>10s} {'step ms':>10s} {'sample/step':>11s}")
    for name in args.tasks:
        r = bench_task(name, device, args.batch_size, args.repeats, args.step_repeats, not args.no_step,
                       args.micro_batch)
        step = f"{1e3 * r['step_s']:10.1f}" if "step_s" in r else f"{'-':>10s}"
        ratio = f"{r['ratio']:11.4f}" if "ratio" in r else f"{'-':>11s}"
        note = f"  (step as {args.batch_size // r['micro_batch']} micro-batches)" if r.get("micro_batch", args.batch_size) < args.batch_size else ""
        print(f"{name:28s} {r['points']:6d} {r['tokens']:6d} {1e3 * r['sample_s']:10.2f} {step} {ratio}{note}", flush=True)


if __name__ == "__main__":
    main()
