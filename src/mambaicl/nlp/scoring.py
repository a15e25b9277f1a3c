"""Decoding and scoring of one generated token (spec 7.2)."""

from __future__ import annotations

from .tasks import TASK_INFO


def clean_prediction(decoded: str) -> str:
    """Cut at the first newline, strip."""
    return decoded.split("\n", 1)[0].strip()


def exact_match(pred: str, target: str) -> bool:
    return pred.strip() == target.strip()


def prefix_match(pred: str, target: str) -> bool:
    """Both non-empty and one a prefix of the other: "Dres" counts for "Dresden" (G's metric, kept)."""
    p, t = pred.strip(), target.strip()
    return bool(p) and bool(t) and (p.startswith(t) or t.startswith(p))


def synonym_match(pred: str, accepted: list[str] | set[str]) -> bool:
    """The changed translation metric: the prediction is among the accepted answers (dictionary senses of
    the source word, plus English WordNet synonyms for English targets)."""
    return pred.strip().lower() in {a.strip().lower() for a in accepted}


def score(task: str, pred: str, target: str, accepted: list[str] | None = None) -> bool:
    category = TASK_INFO[task].category
    if category == "knowledge":
        return prefix_match(pred, target)
    if category == "translation":
        return synonym_match(pred, set(accepted or []) | {target.strip()})
    return exact_match(pred, target)
