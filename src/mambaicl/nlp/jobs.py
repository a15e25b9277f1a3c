"""The NLP study's workflow jobs that build data and models and run them (``workflow/scripts/nlp_data.py``,
``nlp_build_model.py``, ``nlp_evaluate.py``, ``nlp_sweep.py``). Tables, figures and macros: ``report``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .evaluate import EvalSettings, evaluate_five_shot, evaluate_sweep
from .models import build_local_model, load_model, model_spec
from .placement import DEFAULT_GPU_MEMORY_GIB, batch_rule, choose_dtype, mamba_path
from .tasks import build_tasks, load_tasks, save_tasks

# An upper estimate of a prompt's tokens per demonstration line (``example:{x}->{y}`` and a newline under BPE;
# lists of 4 letters take the most), for the fp32 fit test before any prompt is tokenised. The batch size is
# chosen later from the real prompts.
TOKENS_PER_LINE_BOUND = 16


def data_job(out_json: str) -> None:
    t0 = time.perf_counter()
    tasks = build_tasks()
    save_tasks(tasks, out_json)
    for name, t in tasks.items():
        print(f"{name}: {len(t['pairs'])} pairs ({t['category']})")
    print(f"built in {time.perf_counter() - t0:.1f} s")


def build_model_job(model: str, out_dir: str) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    build_local_model(model, out_dir)


def _load(model: str, location: str, settings: dict, threads: int, device: str, max_shots: int):
    """(model, tokenizer, placement, batch size or rule): loaded on the config's ``device`` (auto | cpu | cuda)
    in the precision ``choose_dtype`` picks; ``placement`` (device, dtype and why, Mamba path) is logged and goes
    to meta.json; the batch size is ``nlp.batch_size``, or with ``auto`` ``placement.batch_rule``'s."""
    import torch  # here, not at the top: the data job needs no torch

    from ..runtime import resolve_device

    torch.set_num_threads(threads)
    if Path(location).is_dir():
        os.environ["HF_HUB_OFFLINE"] = "1"
    dev = resolve_device(device)
    spec = model_spec(model)
    budget = settings.get("gpu_memory_gib", DEFAULT_GPU_MEMORY_GIB)
    choice = choose_dtype(spec, dev.type, settings.get("dtype", "auto"), budget,
                          seq_len=(max_shots + 1) * TOKENS_PER_LINE_BOUND)
    if dev.type == "cuda":  # fp32 means fp32 matmuls, as G ran (spec 7.3): no TF32
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    print(f"{model}: device {dev}, precision {choice.dtype} ({choice.reason})")
    m, tok = load_model(model, location, dtype=choice.dtype, device=str(dev))
    path, warning = mamba_path(getattr(m.config, "model_type", ""), dev.type)
    if path:
        print(f"{model}: Mamba path: " + ("mamba-ssm kernels" if path == "kernels" else "PyTorch reference scan"))
    if warning:
        print(warning, flush=True)
    placement = {"device": str(dev), "dtype": choice.dtype, "dtype_reason": choice.reason, "mamba_path": path,
                 "n_params": spec.n_params, "gpu_memory_gib": budget if dev.type == "cuda" else None,
                 "tf32": False if dev.type == "cuda" else None}
    batch = batch_rule(settings.get("batch_size", 16), spec, choice.dtype, dev.type, budget)
    return m, tok, placement, batch


def evaluate_job(model: str, location: str, tasks_json: str, settings: dict, threads: int,
                 out_csv: str, out_predictions: str, out_meta: str, *, device: str) -> None:
    tasks = load_tasks(tasks_json)
    m, tok, placement, batch = _load(model, location, settings, threads, device, settings["shots"])
    es = EvalSettings(seed=settings["seed"], shots=settings["shots"], n_prompts=settings["n_prompts"],
                      n_zero_shot=settings["n_zero_shot"], batch_size=batch)
    summary, scored, meta = evaluate_five_shot(m, tok, tasks, es)
    summary.to_csv(out_csv, index=False)
    scored.to_csv(out_predictions, index=False)
    Path(out_meta).write_text(json.dumps({**meta, **placement, "batch_setting": settings.get("batch_size", 16),
                                          "model": model, "location": location, "threads": threads}))
    print(f"{model}: {meta['n_prompts']} prompts in {meta['seconds']:.1f} s ({placement['dtype']}, batch "
          f"{meta.get('batch_size')}); 18-task mean {summary[summary.setting == 'icl'].accuracy.mean():.3f}")


def sweep_job(model: str, location: str, tasks_json: str, settings: dict, threads: int, out_csv: str, *,
              device: str) -> None:
    tasks = load_tasks(tasks_json)
    sw = settings["sweep"]
    m, tok, placement, batch = _load(model, location, settings, threads, device, max(sw["shots"]))
    es = EvalSettings(seed=settings["seed"], n_prompts=sw["n_prompts"], batch_size=batch)
    df, meta = evaluate_sweep(m, tok, tasks, es, sw["shots"], settings.get("drop_policy", "skip"))
    df.to_csv(out_csv, index=False)
    print(f"{model}: sweep in {meta['seconds']:.1f} s ({placement['dtype']} on {placement['device']})")
