"""Tables and LaTeX macros rendered from metrics files: no number in the paper is typed by hand."""

from __future__ import annotations

import re
import subprocess
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


def format_number(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals, or in scientific notation (LaTeX math, ``format_sci``) where that
    would show fewer than two significant digits or the value is 10^5 or more; "--" where there is no number
    (a mean over no tasks is NaN)."""
    if value != value:
        return "--"
    if value != 0 and (abs(value) < 10 ** (1 - digits) or abs(value) >= 1e5):
        return format_sci(value, digits)
    return f"{value:.{digits}f}"


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


def error_table_tex(curves: pd.DataFrame, k_values: list[int], caption: str, label: str) -> str:
    wide = errors_at_k(curves, k_values)
    cols = "l" + "r" * len(k_values)
    head = " & ".join(["Model"] + [f"$k={k}$" for k in k_values])
    lines = [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{caption}}}", rf"\label{{{label}}}",
             rf"\begin{{tabular}}{{{cols}}}", r"\toprule", head + r" \\", r"\midrule"]
    prev_kind = None
    for (kind, name), row in wide.iterrows():
        if prev_kind == "model" and kind == "baseline":
            lines.append(r"\midrule")
        prev_kind = kind
        cells = ["--" if pd.isna(v) else format_number(v) for v in row.tolist()]
        lines.append(" & ".join([latex_escape(name)] + cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


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
