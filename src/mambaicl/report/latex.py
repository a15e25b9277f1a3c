"""Tables and LaTeX macros rendered from metrics files: no number in the paper is typed by hand."""

from __future__ import annotations

import math
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

_ONES = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten", "Eleven", "Twelve",
         "Thirteen", "Fourteen", "Fifteen", "Sixteen", "Seventeen", "Eighteen", "Nineteen"]
_TENS = ["", "", "Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety"]


def number_words(n: int) -> str:
    """0 -> Zero, 15 -> Fifteen, 199 -> OneHundredNinetyNine (TeX macro names cannot hold digits)."""
    if n < 0:
        return "Minus" + number_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + (_ONES[n % 10] if n % 10 else "")
    for size, word in ((10**9, "Billion"), (10**6, "Million"), (1000, "Thousand"), (100, "Hundred")):
        if n >= size:
            rest = n % size
            return number_words(n // size) + word + (number_words(rest) if rest else "")
    raise AssertionError(n)


def macro_name(*parts: str | int) -> str:
    """CamelCase TeX control-sequence name from parts; numbers are spelled out (TeX names are letters only)."""
    out = []
    for part in parts:
        for word in re.split(r"[^A-Za-z0-9]+|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])", str(part)):
            if not word:
                continue
            word = number_words(int(word)) if word.isdigit() else word
            out.append(word[0].upper() + word[1:])
    name = "".join(out)
    if not name:
        raise ValueError(f"empty macro name from {parts!r}")
    return name


# Wide tables shrink to the text width; narrow ones keep their natural size (\resizebox{\linewidth} alone
# blew a two-column table up to twice its font size).
FIT_TO_WIDTH = r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%"


class TexStr(str):
    """Text that is already LaTeX (a formatted number in math): ``latex_escape`` leaves it as it is."""


def format_sci(value: float, digits: int = 3) -> TexStr:
    """``value`` in scientific notation as LaTeX math, ``digits`` significant: 0.00316 -> 3.16\times10^{-3}."""
    mantissa, exponent = f"{value:.{max(digits - 1, 0)}e}".split("e")
    return TexStr(rf"\ensuremath{{{mantissa}\times10^{{{int(exponent)}}}}}")


# Normalised metrics below this are floating-point noise (an exact fit: least squares beyond k = d), shown as
# such in tables and kept off the figures' log axes (``style.drawn_range_values``); the one definition of it.
EXACT_FIT_FLOOR = 1e-6
FLOOR_TEXT = r"$<10^{-6}$"


def format_number(value: float, digits: int = 3, *, sig: bool = False) -> str:
    r"""``value`` as table or text LaTeX; "--" where there is no number (a mean over no tasks is NaN).

    ``sig=False``: ``digits`` decimals, in scientific notation (``format_sci``, ``digits`` significant) where
    the decimals would show fewer than two significant digits or the value is 10^5 or more: 0.0123 -> 0.012,
    0.00316 -> 3.16\times10^{-3}, 0 -> 0.000.
    ``sig=True``: ``digits`` significant figures, never rounded to zero: 0.0123 -> 0.0123, 0.5 -> 0.500,
    3298.4 -> 3298, 0.000123 -> 1.23\times10^{-4}; exactly zero -> 0; below ``EXACT_FIT_FLOOR`` (rounding
    noise) $<10^{-6}$; infinities as such."""
    if value != value:
        return "--"
    if not sig:
        if value != 0 and (abs(value) < 10 ** (1 - digits) or abs(value) >= 1e5):
            return format_sci(value, digits)
        return f"{value:.{digits}f}"
    if value == 0:
        return "0"
    if abs(value) < EXACT_FIT_FLOOR:  # rounding noise of an exact fit, not a measurement
        return FLOOR_TEXT
    if abs(value) == float("inf"):
        return r"$\infty$" if value > 0 else r"$-\infty$"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude < -3:
        return format_sci(value, digits)
    return f"{value:.{max(digits - 1 - magnitude, 0)}f}"


# An interval's mean shows at most this many significant figures: a narrower interval than its last digit
# prints as "<10^-k" rather than as more digits (a zero-vector baseline of MSE 1.00000031 +- 1.7e-7 once
# printed nine).
INTERVAL_MAX_SIG = 4


def format_interval(mean: float, low: float, high: float, sig: int = 3) -> str:
    r"""``mean`` with the half-width of its interval [low, high], both rounded to the half-width's second
    significant figure (first if that digit is 2-9): 0.12345 in [0.1192, 0.1277] -> 0.123\,$\pm$\,0.004;
    but the mean to at most ``INTERVAL_MAX_SIG`` significant figures, and a half-width that rounds to zero
    there as a bound: 1.00000031 +- 1.7e-7 -> 1.000\,$\pm$\,$<10^{-3}$. Tiny numbers share a power of ten.
    Without a width (one prompt, or no interval), the mean alone to ``sig`` figures; "--" without a mean."""
    if mean != mean:
        return "--"
    half = (high - low) / 2 if low == low and high == high else float("nan")
    if abs(mean) < EXACT_FIT_FLOOR and not half >= EXACT_FIT_FLOOR:
        return FLOOR_TEXT
    if not half > 0 or not math.isfinite(half):
        return format_number(mean, sig, sig=True)
    magnitude = math.floor(math.log10(half))
    lead = int(f"{half:e}"[0])
    decimals = -magnitude + (1 if lead == 1 else 0)
    if mean != 0 and math.isfinite(mean):
        cap = INTERVAL_MAX_SIG - 1 - math.floor(math.log10(abs(mean)))  # decimals of the mean's last shown figure
        if decimals > cap and round(half, cap) == 0:  # narrower than the last digit shown: a bound
            bound = rf"${{<}}10^{{{-cap}}}$" if cap != 0 else "${<}1$"  # {<}: no relation spacing
            shown = format_sci(mean, INTERVAL_MAX_SIG) if cap > 4 else f"{mean:.{max(cap, 0)}f}"
            return rf"{shown}\,$\pm$\,{bound}"
        decimals = min(decimals, cap)
    if decimals > 4:  # tiny numbers: a shared power of ten
        exp = math.floor(math.log10(max(abs(mean), half)))
        scale = 10.0 ** exp
        d = max(decimals + exp, 0)
        return rf"$({mean / scale:.{d}f}\pm{half / scale:.{d}f})\times10^{{{exp}}}$"
    d = max(decimals, 0)
    return rf"{mean:.{d}f}\,$\pm$\,{half:.{d}f}"


def format_duration(seconds: float) -> str:
    """Human-scale duration: 42 s, 3.5 min, 7.2 h, 2.1 d."""
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped, in one pass (so that the braces of an escape are
    never escaped again). ``TexStr`` (already LaTeX) is returned as it is."""
    if isinstance(text, TexStr):
        return text
    return re.sub(r"[\\&%$#_{}~^]", lambda m: _ESCAPES[m.group()], text)


def errors_at_k(curves: pd.DataFrame, k_values: list[int]) -> pd.DataFrame:
    """Rows: label; columns: normalised mean error at each requested k (NaN where not evaluated)."""
    sub = curves[curves.k.isin(k_values)]
    wide = sub.pivot_table(index=["kind", "label"], columns="k", values="normalized_mean", sort=False)
    return wide.reindex(columns=k_values)


def interval_text(ci: float) -> str:
    """Caption sentence for the cells ``format_interval`` writes."""
    return (rf"$\pm$: half-width of the {ci * 100:g}\,\% bootstrap interval over prompts (resampled within "
            r"seeds); a value without $\pm$ has an interval of zero width.")


def tabular_lines(cols: str, head: str | Sequence[str], body: list[str], fit: bool = True) -> list[str]:
    """A booktabs tabular (column spec ``cols``) as lines: rules around the ``head`` rows (cells joined with &,
    without the row end; a str is one row, an empty sequence none and no rule under them) and the ``body``
    lines, inside the ``FIT_TO_WIDTH`` box with ``fit`` (shrunk to the text width only when wider)."""
    heads = [head] if isinstance(head, str) else list(head)
    lines = ([FIT_TO_WIDTH] if fit else []) + [rf"\begin{{tabular}}{{{cols}}}", r"\toprule"]
    if heads:
        lines += [h + r" \\" for h in heads] + [r"\midrule"]
    return lines + [*body, r"\bottomrule", r"\end{tabular}}" if fit else r"\end{tabular}"]


def float_tex(caption: str, label: str, content: list[str], size: str = r"\small", placement: str = "htbp",
              lead: Sequence[str] = (), preamble: Sequence[str] = ()) -> str:
    r"""The table float around ``content`` (lines: a ``tabular_lines``, or several): ``placement``, then the
    ``lead`` lines (float-local switches such as ``\ledgerrefs``), centering, font ``size`` (none if empty),
    the ``preamble`` lines (e.g. ``\setlength{\tabcolsep}{3pt}``), caption and label above the content."""
    return "\n".join([rf"\begin{{table}}[{placement}]", *lead, r"\centering", *([size] if size else []), *preamble,
                      rf"\caption{{{caption}}}", rf"\label{{{label}}}", *content, r"\end{table}", ""])


def table_tex(caption: str, label: str, cols: str, head: str | Sequence[str], body: list[str],
              size: str = r"\small", placement: str = "htbp", *, fit: bool = True, lead: Sequence[str] = (),
              preamble: Sequence[str] = ()) -> str:
    """The frame every table of the report shares: a ``float_tex`` float (``placement``, ``size``, ``lead``,
    ``preamble``; caption and label above) around one ``tabular_lines`` tabular (``cols``, ``head``, ``body``,
    ``fit``): booktabs rules, shrunk to the text width only when wider unless ``fit`` is False."""
    return float_tex(caption, label, tabular_lines(cols, head, body, fit), size, placement, lead, preamble)


DASH_BEYOND_TABLE = "the model's learned positional table ends before this $k$"
DASH_NOT_EVALUATED = "not evaluated at this $k$"


def error_table_tex(curves: pd.DataFrame, k_values: list[int], caption: str, label: str,
                    model_order: list[str] = (), ci: float | None = None) -> str:
    """Rows: one per curve, models in ``model_order`` then baselines in registry order; columns: the
    metric at each of ``k_values``, with the half-width of its bootstrap interval where the curves have
    one (``ci``: its level, for the caption). Every dash is explained in the caption."""
    from .labels import order_rows

    if "name" not in curves:
        curves = curves.assign(name=curves["label"])
    has_ci = ci is not None and {"normalized_ci_low", "normalized_ci_high"} <= set(curves.columns)
    curves = order_rows(curves, list(model_order))
    cols = "l" + "r" * len(k_values)
    head = " & ".join(["Model"] + [f"$k={k}$" for k in k_values])
    body, prev_kind, dashes = [], None, set()
    for (kind, _, name), d in curves.groupby(["kind", "name", "label"], sort=False):
        if prev_kind == "model" and kind == "baseline":
            body.append(r"\midrule")
        prev_kind = kind
        at = d.set_index("k")
        cells = []
        for k in k_values:
            if k not in at.index or pd.isna(at.at[k, "normalized_mean"]):
                cells.append("--")
                dashes.add(DASH_BEYOND_TABLE if kind == "model" and k > at.index.max() else DASH_NOT_EVALUATED)
            elif has_ci:
                cells.append(format_interval(at.at[k, "normalized_mean"], at.at[k, "normalized_ci_low"],
                                             at.at[k, "normalized_ci_high"]))
            else:
                cells.append(format_number(at.at[k, "normalized_mean"], sig=True))
        body.append(" & ".join([latex_escape(name)] + cells) + r" \\")
    notes = ([interval_text(ci)] if has_ci else []) + ([
        "--: " + "; ".join(sorted(dashes)) + "."] if dashes else [])
    return table_tex(" ".join([caption] + notes), label, cols, head, body)


def macros_tex(values: dict[str, str], raw: frozenset[str] = frozenset()) -> str:
    """One ``\\newcommand`` per value; values are escaped for LaTeX unless their name is in ``raw``."""
    lines = ["% Generated by the workflow; do not edit."]
    for name in sorted(values):
        text = values[name] if name in raw else latex_escape(values[name])
        lines.append(rf"\newcommand{{\{name}}}{{{text}}}")
    return "\n".join(lines) + "\n"


def parse_macros(text: str) -> dict[str, str]:
    return dict(re.findall(r"\\newcommand\{\\([A-Za-z]+)\}\{([^\n]*)\}", text))


def git_commit(repo: str | Path = ".") -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, capture_output=True,
                             text=True, timeout=10)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                                   capture_output=True, text=True, timeout=10).stdout.strip()
            return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"
