"""The NLP study's workflow jobs that build data and models and run them (``workflow/scripts/nlp_data.py``,
``nlp_build_model.py``, ``nlp_evaluate.py``, ``nlp_sweep.py``). Tables, figures and macros: ``report``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .evaluate import EvalSettings, evaluate_five_shot, evaluate_sweep
from .models import build_local_model, load_model
from .tasks import build_tasks, load_tasks, save_tasks


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


def _load(model: str, location: str, settings: dict, threads: int):
    import torch  # here, not at the top: the data job needs no torch

    torch.set_num_threads(threads)
    if Path(location).is_dir():
        os.environ["HF_HUB_OFFLINE"] = "1"
    return load_model(model, location, dtype=settings.get("dtype", "float32"))


def evaluate_job(model: str, location: str, tasks_json: str, settings: dict, threads: int,
                 out_csv: str, out_predictions: str, out_meta: str) -> None:
    tasks = load_tasks(tasks_json)
    m, tok = _load(model, location, settings, threads)
    es = EvalSettings(seed=settings["seed"], shots=settings["shots"], n_prompts=settings["n_prompts"],
                      n_zero_shot=settings["n_zero_shot"], batch_size=settings["batch_size"])
    summary, scored, meta = evaluate_five_shot(m, tok, tasks, es)
    summary.to_csv(out_csv, index=False)
    scored.to_csv(out_predictions, index=False)
    Path(out_meta).write_text(json.dumps({**meta, "model": model, "location": location, "threads": threads}))
    print(f"{model}: {meta['n_prompts']} prompts in {meta['seconds']:.1f} s; 18-task mean "
          f"{summary[summary.setting == 'icl'].accuracy.mean():.3f}")


def sweep_job(model: str, location: str, tasks_json: str, settings: dict, threads: int, out_csv: str) -> None:
    tasks = load_tasks(tasks_json)
    m, tok = _load(model, location, settings, threads)
    sw = settings["sweep"]
    es = EvalSettings(seed=settings["seed"], n_prompts=sw["n_prompts"], batch_size=settings["batch_size"])
    df, meta = evaluate_sweep(m, tok, tasks, es, sw["shots"], settings.get("drop_policy", "skip"))
    df.to_csv(out_csv, index=False)
    print(f"{model}: sweep in {meta['seconds']:.1f} s")
