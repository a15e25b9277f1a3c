"""Garg et al.'s curriculum: the number of active dimensions and of points grow in steps.

At 0-based training step t a counter equals min(start + inc * floor(t / interval), end).
Being a pure function of t, it needs no state and is replayed exactly on resume.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    start: int
    end: int
    inc: int = 0
    interval: int = 1

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise ValueError(f"curriculum interval must be >= 1, got {self.interval}")
        if self.start > self.end:
            raise ValueError(f"curriculum start {self.start} exceeds its end {self.end}")

    def at(self, step: int) -> int:
        return min(self.start + self.inc * (step // self.interval), self.end)

    @classmethod
    def from_dict(cls, d: dict) -> "Schedule":
        return cls(start=d["start"], end=d["end"], inc=d.get("inc", 0), interval=d.get("interval", 1))


@dataclass(frozen=True)
class Curriculum:
    dims: Schedule
    points: Schedule

    def at(self, step: int) -> tuple[int, int]:
        """(active dimensions, number of points) at training step ``step``."""
        return self.dims.at(step), self.points.at(step)

    @classmethod
    def from_dict(cls, d: dict) -> "Curriculum":
        return cls(dims=Schedule.from_dict(d["dims"]), points=Schedule.from_dict(d["points"]))
