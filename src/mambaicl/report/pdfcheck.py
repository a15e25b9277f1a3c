"""Checks of a compiled report (tests/test_workflow.py runs them on the smoke PDF): overfull lines in the LaTeX
log, text that should never reach the PDF ("nan"), floats far from their first reference, and that every page
renders. Each returns the problems it finds (empty: none)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

OVERFULL = re.compile(r"^Overfull \\hbox \((\d+(?:\.\d+)?)pt too wide\) (.*)$", re.M)


def overfull_boxes(log_text: str, tolerance_pt: float = 5.0) -> list[str]:
    """The overfull ``\\hbox`` warnings of a LaTeX log wider than ``tolerance_pt``."""
    return [f"{float(w):.1f}pt {where}" for w, where in OVERFULL.findall(log_text) if float(w) > tolerance_pt]


def pdf_text(pdf: str | Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


NAN = re.compile(r"(?<![A-Za-z])(nan|NaN|inf)(?![A-Za-z])")


def bad_tokens(text: str) -> list[str]:
    """Every "nan"/"NaN"/"inf" standing alone in the PDF text, with its line."""
    return [line.strip() for line in text.splitlines() if NAN.search(line)]


# \newlabel{fig:x}{{3}{12}{caption}{figure.caption.7}{}} (hyperref: number, page, title, anchor, extra)
NEWLABEL = re.compile(r"^\\newlabel\{((?:fig|tab):[^}]*)\}\{\{[^}]*\}\{(\d+)\}", re.M)
REFPAGE = re.compile(r"^\\mambaicl@firstref\{([^}]*)\}\{(\d+)\}", re.M)


def float_pages(aux_text: str) -> dict[str, int]:
    """Figure and table label -> the page its float was set on, from the .aux file."""
    return {label: int(page) for label, page in NEWLABEL.findall(aux_text)}


def first_reference_pages(aux_text: str) -> dict[str, int]:
    """Label -> page of its first ``\\ref`` (paper/floats.sty writes ``\\mambaicl@firstref`` lines to the
    .aux for every reference; the earliest page per label wins)."""
    out: dict[str, int] = {}
    for label, page in REFPAGE.findall(aux_text):
        out[label] = min(out.get(label, int(page)), int(page))
    return out


def distant_floats(aux_text: str, max_pages: int = 2) -> list[str]:
    """Floats set more than ``max_pages`` pages from their first reference (or before it by more than one
    page); floats never referenced are not judged here."""
    floats, refs = float_pages(aux_text), first_reference_pages(aux_text)
    out = []
    for label, page in floats.items():
        if label in refs and not -1 <= page - refs[label] <= max_pages:
            out.append(f"{label}: referenced on page {refs[label]}, set on page {page}")
    return out


def render_pages(pdf: str | Path, out_dir: str | Path, dpi: int = 20) -> list[Path]:
    """Renders every page with pdftoppm; returns the images (one per page)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(out_dir / "page")], check=True,
                   capture_output=True)
    return sorted(out_dir.glob("page*.png"))


def pdf_pages(pdf: str | Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
