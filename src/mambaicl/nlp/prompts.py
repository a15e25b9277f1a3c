"""Prompt construction (spec 7.2): ``example:{x}->{y}`` lines, seeded sampling, the single-token filter."""

from __future__ import annotations

import string
import zlib
from dataclasses import dataclass

import numpy as np

from .tasks import LIST_TASKS, TASK_INFO, list_answer, list_input

FILTERED_CATEGORIES = ("translation", "linguistic")  # knowledge: unfiltered, no leading space
SPACE_KEEP_RATIO = 0.7


class NotEnoughInputs(ValueError):
    """A task's pool holds fewer than k + 1 distinct inputs."""


@dataclass
class Prompt:
    task: str
    text: str
    query: str
    target: str
    k: int


def is_single_token(tokenizer, text: str) -> bool:
    """H's test: "!" + text splits into exactly 2 tokens (the "!" and the answer)."""
    return len(tokenizer("!" + text, add_special_tokens=False)["input_ids"]) == 2


def single_token_filter(pairs: list, tokenizer) -> tuple[list, bool]:
    """Pairs whose answer is one token, and whether the leading-space form is used: it is (" go" -> " going")
    when it keeps at least 70 % as many pairs as the plain form."""
    plain = [p for p in pairs if is_single_token(tokenizer, p[1])]
    spaced = [p for p in pairs if is_single_token(tokenizer, " " + p[1])]
    if len(spaced) >= SPACE_KEEP_RATIO * len(plain) and spaced:
        return [[" " + x, " " + y] for x, y in spaced], True
    return plain, False


def task_pool(name: str, task: dict, tokenizer) -> tuple[list, bool]:
    """The (input, answer) pairs a model is evaluated on, filtered for its tokenizer where the spec says so."""
    pairs = [list(p) for p in task["pairs"]]
    if TASK_INFO[name].category in FILTERED_CATEGORIES and tokenizer is not None:
        return single_token_filter(pairs, tokenizer)
    return pairs, False


def task_rng(seed: int, task: str, *extra: int) -> np.random.Generator:
    """One generator per (seed, task[, k]), independent of which other tasks run."""
    return np.random.default_rng([seed, zlib.crc32(task.encode()), *extra])


def format_prompt(demos: list, query: str) -> str:
    lines = [f"example:{x}->{y}" for x, y in demos]
    return "\n".join(lines + [f"example:{query}->"])


def _random_list(rng: np.random.Generator) -> str:
    n = int(rng.integers(2, 5))
    return list_input([string.ascii_lowercase[i] for i in rng.integers(0, 26, size=n)])


def sample_prompts(name: str, pool: list, k: int, n: int, rng: np.random.Generator) -> list[Prompt]:
    """n independent prompts: a test input, then k demonstrations with distinct inputs other than it."""
    out = []
    if name in LIST_TASKS:
        for _ in range(n):
            inputs: list[str] = []
            while len(inputs) < k + 1:  # de-duplicate within the prompt
                x = _random_list(rng)
                if x not in inputs:
                    inputs.append(x)
            query, demo_inputs = inputs[0], inputs[1:]
            demos = [(x, list_answer(name, x)) for x in demo_inputs]
            out.append(Prompt(name, format_prompt(demos, query), query, list_answer(name, query), k))
        return out
    if len(pool) < k + 1:
        raise NotEnoughInputs(f"{name}: {len(pool)} inputs, {k} shots need {k + 1}")
    for _ in range(n):
        t = int(rng.integers(len(pool)))
        others = np.delete(np.arange(len(pool)), t)
        demos = [pool[i] for i in rng.choice(others, size=k, replace=False)]
        query, target = pool[t]
        out.append(Prompt(name, format_prompt(demos, query), query, target, k))
    return out
