"""Time the 18-task 5-shot study (+ zero-shot baseline) of SmolLM2-135M, on CPU (default) or a GPU.

    python benchmarks/bench_nlp.py --model-dir results/cpu/nlp/models/smollm2_135m \
        --tasks results/cpu/nlp/data/tasks.json --n-prompts 40 --n-zero-shot 10 --threads 2 [--device cuda]

On a GPU the precision and (with --batch-size auto) the batch size are the workflow's (``mambaicl.nlp.placement``).

Prints prompts/s and the extrapolated time of the full protocol (400 ICL + 100 zero-shot prompts per task).
"""

import argparse
import os
import time

import torch

from mambaicl.nlp.evaluate import EvalSettings, evaluate_five_shot
from mambaicl.nlp.models import MODELS, build_smollm2, load_model
from mambaicl.nlp.placement import batch_rule, choose_dtype
from mambaicl.nlp.tasks import build_tasks, load_tasks, save_tasks
from mambaicl.runtime import resolve_device


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", default="/tmp/mambaicl-bench-smollm2")
    ap.add_argument("--tasks", default="/tmp/mambaicl-bench-tasks.json")
    ap.add_argument("--n-prompts", type=int, default=40)
    ap.add_argument("--n-zero-shot", type=int, default=10)
    ap.add_argument("--batch-size", default="16", help="a number, or auto (per model on a GPU)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    torch.set_num_threads(args.threads)
    if not os.path.isdir(args.model_dir):
        build_smollm2(args.model_dir)
    if not os.path.exists(args.tasks):
        save_tasks(build_tasks(), args.tasks)
    device = resolve_device(args.device)
    spec = MODELS["smollm2_135m"]
    dtype = choose_dtype(spec, device.type).dtype
    model, tok = load_model("smollm2_135m", args.model_dir, dtype=dtype, device=str(device))
    batch = batch_rule(args.batch_size if args.batch_size == "auto" else int(args.batch_size), spec, dtype,
                       device.type, 139.0)
    settings = EvalSettings(n_prompts=args.n_prompts, n_zero_shot=args.n_zero_shot, batch_size=batch)
    t0 = time.perf_counter()
    summary, _, meta = evaluate_five_shot(model, tok, load_tasks(args.tasks), settings)
    sec = time.perf_counter() - t0
    rate = meta["n_prompts"] / sec
    full = 18 * (400 + 100)
    print(f"{meta['n_prompts']} prompts in {sec:.1f} s ({rate:.1f} prompts/s, {device}, {dtype}, {args.threads} "
          f"threads, batch {meta['batch_size']}); full protocol ({full} prompts): about {full / rate / 60:.1f} min; "
          f"18-task 5-shot mean {summary[summary.setting == 'icl'].accuracy.mean():.3f}")


if __name__ == "__main__":
    main()
