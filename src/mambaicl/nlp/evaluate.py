"""Batched one-token greedy evaluation of a causal LM on the 18 tasks (spec 7.2-7.4).

Prompts of all tasks are sorted by length and run in left-padded batches; only the last position's
logits are computed (``logits_to_keep=1``), which is exactly greedy decoding of one token. Where the model
takes ``position_ids`` they are counted from the first real token, and the attention mask hides the pads, so
padding changes nothing beyond float rounding (the Transformers; transformers' Mamba zeroes padded positions
before its convolution and scan, so its state stays exactly zero through them). A model that ignores the mask
(RWKV) would read the pads as input, making a prompt's answer depend on its batch: its batches hold prompts
of one token length only, so nothing is padded (``ignores_padding_mask``).
"""

from __future__ import annotations

import importlib
import inspect
import time
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd
from tqdm import tqdm

from .prompts import NotEnoughInputs, Prompt, sample_prompts, task_pool, task_rng
from .scoring import clean_prediction, score
from .tasks import TASK_INFO, TASK_NAMES


@dataclass
class EvalSettings:
    seed: int = 41
    shots: int = 5
    n_prompts: int = 400
    n_zero_shot: int = 100
    batch_size: int | Callable[[int], int] = 16  # or a function of the longest prompt's tokens (placement)
    tasks: list[str] = field(default_factory=lambda: list(TASK_NAMES))


def ignores_padding_mask(model) -> bool:
    """Whether the model's forward ignores ``attention_mask``: RWKV always; Mamba in transformers versions
    before it masked padded positions (no ``apply_mask_to_padding_states``)."""
    model_type = getattr(model.config, "model_type", "")
    if model_type == "rwkv":
        return True
    if model_type == "mamba":
        mm = importlib.import_module("transformers.models.mamba.modeling_mamba")
        return not hasattr(mm, "apply_mask_to_padding_states")
    return False


def make_batches(order: list[int], lengths: list[int], batch_size: int, same_length: bool) -> list[list[int]]:
    """Consecutive runs of ``order`` (indices sorted by length) of at most ``batch_size``; with ``same_length``
    a batch never mixes token lengths (no padding at all)."""
    batches: list[list[int]] = []
    for i in order:
        last = batches[-1] if batches else None
        if last is None or len(last) == batch_size or (same_length and lengths[last[0]] != lengths[i]):
            batches.append([i])
        else:
            last.append(i)
    return batches


def predict_first_tokens(model, tokenizer, texts: list[str], batch_size: int | Callable[[int], int],
                         desc: str = "prompts", stats: dict | None = None) -> list[str]:
    """Greedy next token of every text, decoded without special tokens, cut at a newline and stripped.
    ``batch_size``: a number, or a function of the longest text's token count. ``stats``, when given, receives
    the batch size used, the longest prompt's tokens and the batch count."""
    import torch

    params = inspect.signature(model.forward).parameters
    takes_positions = "position_ids" in params
    lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    longest = max(lengths, default=0)
    size = batch_size(longest) if callable(batch_size) else batch_size
    order = sorted(range(len(texts)), key=lambda i: (lengths[i], i))  # similar lengths share a batch
    unmasked = ignores_padding_mask(model)
    batches = make_batches(order, lengths, size, unmasked)
    print(f"{desc}: {len(texts)} prompts, longest {longest} tokens, batch size {size}, {len(batches)} batches"
          + (" (one token length per batch: the model ignores the attention mask)" if unmasked else ""))
    if stats is not None:
        stats.update(batch_size=size, longest_prompt_tokens=longest, batches=len(batches))
    preds: list[str] = [""] * len(texts)
    device = next(model.parameters()).device
    with torch.inference_mode():
        for idx in tqdm(batches, desc=desc, mininterval=5):
            enc = tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True).to(device)
            kwargs = dict(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], logits_to_keep=1)
            if takes_positions:
                kwargs["position_ids"] = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
            if "use_cache" in params:
                kwargs["use_cache"] = False  # one forward pass: a cache would only hold memory
            logits = model(**kwargs).logits[:, -1, :]  # (batch, vocab)
            for i, tok_id in zip(idx, logits.argmax(-1).tolist()):
                preds[i] = clean_prediction(tokenizer.decode([tok_id], skip_special_tokens=True))
    return preds


def build_prompts(tasks: dict, tokenizer, settings: EvalSettings, shots: int | None = None,
                  with_zero_shot: bool = True, rng_extra: tuple[int, ...] = ()) -> tuple[list, list, pd.DataFrame]:
    """(ICL prompts, zero-shot prompts, per-task pool info). A task without k + 1 inputs is skipped, logged
    and recorded (never silently dropped). ICL prompts are drawn before the zero-shot ones (G's order)."""
    k = settings.shots if shots is None else shots
    icl, zero, info = [], [], []
    for name in settings.tasks:
        pool, spaced = task_pool(name, tasks[name], tokenizer)
        rng = task_rng(settings.seed, name, *rng_extra)
        row = {"task": name, "category": TASK_INFO[name].category, "k": k, "n_pool": len(pool),
               "leading_space": spaced, "skipped": ""}
        try:
            icl += sample_prompts(name, pool, k, settings.n_prompts, rng)
            if with_zero_shot:
                zero += sample_prompts(name, pool, 0, settings.n_zero_shot, rng)
        except NotEnoughInputs as e:
            print(f"skip: {e}")
            row["skipped"] = str(e)
        info.append(row)
    return icl, zero, pd.DataFrame(info)


def _accept(tasks: dict, p: Prompt) -> list[str] | None:
    return tasks[p.task].get("accept", {}).get(p.query.strip())


def score_prompts(tasks: dict, prompts: list[Prompt], preds: list[str], setting: str) -> pd.DataFrame:
    return pd.DataFrame([{"task": p.task, "setting": setting, "k": p.k, "query": p.query, "target": p.target,
                          "prediction": pred, "correct": score(p.task, pred, p.target, _accept(tasks, p))}
                         for p, pred in zip(prompts, preds)])


def summarize(scored: pd.DataFrame, info: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, setting, k): accuracy and prompt count, plus pool size and skip reason."""
    acc = scored.groupby(["task", "setting", "k"], sort=False).correct.agg(["mean", "size"]).reset_index()
    acc = acc.rename(columns={"mean": "accuracy", "size": "n_prompts"})
    return acc.merge(info.drop(columns="k"), on="task", how="left")


def evaluate_five_shot(model, tokenizer, tasks: dict, settings: EvalSettings) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The main study: k-shot ICL (``settings.shots``) and the zero-shot baseline on every task."""
    t0 = time.perf_counter()
    icl, zero, info = build_prompts(tasks, tokenizer, settings)
    stats: dict = {}
    preds = predict_first_tokens(model, tokenizer, [p.text for p in icl + zero], settings.batch_size,
                                 desc=f"{settings.shots}-shot + zero-shot", stats=stats)
    scored = pd.concat([score_prompts(tasks, icl, preds[:len(icl)], "icl"),
                        score_prompts(tasks, zero, preds[len(icl):], "zero_shot")], ignore_index=True)
    summary = summarize(scored, info)
    skipped = info[info.skipped != ""]
    if len(skipped):  # keep skipped tasks visible in the summary, with no accuracy
        summary = pd.concat([summary, skipped.assign(setting="icl", accuracy=float("nan"), n_prompts=0)],
                            ignore_index=True)
    return summary, scored, {"seconds": time.perf_counter() - t0, "n_prompts": len(icl) + len(zero), **stats}


def evaluate_sweep(model, tokenizer, tasks: dict, settings: EvalSettings, shots: list[int],
                   drop_policy: str = "skip") -> tuple[pd.DataFrame, dict]:
    """Accuracy against the number of shots. ``skip``: every task that has k + 1 inputs, skips logged;
    ``common_subset``: only the tasks that support the largest k, at every k."""
    t0 = time.perf_counter()
    if drop_policy == "common_subset":
        _, _, info = build_prompts(tasks, tokenizer, EvalSettings(**{**settings.__dict__, "n_prompts": 0}),
                                   shots=max(shots), with_zero_shot=False)
        keep = info[info.skipped == ""].task.tolist()
        print(f"common_subset: {len(keep)} tasks support k = {max(shots)}: {', '.join(keep)}")
        settings = EvalSettings(**{**settings.__dict__, "tasks": keep})
    rows = []
    for k in shots:
        icl, _, info = build_prompts(tasks, tokenizer, settings, shots=k, with_zero_shot=False, rng_extra=(k,))
        preds = predict_first_tokens(model, tokenizer, [p.text for p in icl], settings.batch_size, desc=f"k={k}")
        summary = summarize(score_prompts(tasks, icl, preds, "icl"), info) if icl else pd.DataFrame()
        skipped = info[info.skipped != ""].assign(setting="icl", accuracy=float("nan"), n_prompts=0)
        rows.append(pd.concat([summary, skipped], ignore_index=True))
        print(f"k={k}: {(info.skipped == '').sum()} of {len(info)} tasks evaluated")
    return pd.concat(rows, ignore_index=True), {"seconds": time.perf_counter() - t0}
