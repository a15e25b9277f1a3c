"""The paper's Claims section and its count macros, from ``metrics/claims.csv`` (``analysis.claims``):
a table of every claim with its verdict and the numbers behind it, the criteria, then one paragraph per
claim that is not reproduced (``workflow/scripts/claims_section.py``). The table lists every tested line; the
not-tested lines of one claim that share their reason (e.g. no runs for these tasks in this config) are one
summary line there, while ``metrics/claims.csv`` keeps them all."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from .latex import latex_escape, macros_tex

CLAIMS_MACROS = ("ClaimsTotal", "ClaimsReproduced", "ClaimsNotReproduced", "ClaimsNotTested")
MARK = {"reproduced": r"\textcolor{green!40!black}{reproduced}",
        "not reproduced": r"\textcolor{red!70!black}{\textbf{not reproduced}}",
        "not tested": r"\textcolor{black!55}{not tested}"}


def claim_counts(df: pd.DataFrame) -> dict[str, str]:
    n = df.verdict.value_counts()
    return {"ClaimsTotal": str(len(df)), "ClaimsReproduced": str(int(n.get("reproduced", 0))),
            "ClaimsNotReproduced": str(int(n.get("not reproduced", 0))),
            "ClaimsNotTested": str(int(n.get("not tested", 0)))}


def _see(r) -> str:
    """A pointer to the figure or table, only where the claim was judged (its figure is then in the paper)."""
    if not r.evidence or r.verdict == "not tested":
        return ""
    kind = "Table" if r.evidence.startswith("tab:") else "Figure"
    return rf" ({kind}~\ref{{{r.evidence}}})"


def breakable(text: str) -> str:
    """Escaped ``text`` that may break after '/' and '_' (claim ids and task names are long)."""
    return latex_escape(text).replace("/", r"/\allowbreak{}").replace(r"\_", r"\_\allowbreak{}")


def _row(r) -> str:
    detail = r.measured if r.verdict != "not tested" else (r.missing + (f"; {r.measured}" if r.measured else ""))
    return " & ".join([r"\texttt{" + breakable(r.id) + "}", latex_escape(r.claim), MARK[r.verdict],
                       breakable(detail) + _see(r)]) + r" \\"


# Placeholders for a line's own task and model (the parts of its id after the claim) in its reason.
_PART_WORDS = ("task", "model")


def reason_template(r) -> str:
    """``r.missing`` with the line's own id parts (its task, its model) replaced by placeholders, so that
    "no run of Park's mamba on ..." of P6/x/mamba and of P6/y/mamba read as one reason."""
    text = r.missing
    parts = r.id.split("/")[1:]
    for i, part in sorted(enumerate(parts), key=lambda p: -len(p[1])):  # longest first: mambaformer before mamba
        text = re.sub(rf"(?<![\w-]){re.escape(part)}(?![\w-])", f"\0{i}\0", text)
    return text


def _common_words(texts: list[str]) -> str:
    words = [t.split() for t in texts]
    common = []
    for column in zip(*words):
        if len(set(column)) > 1:
            break
        common.append(column[0])
    return " ".join(common).rstrip(",:;")


def _cells(ids: list[str]) -> str:
    """The lines a summary stands for, as LaTeX: their ids after the claim; task/model ids as the models on
    each group of tasks that has the same models ("models a, b on tasks x, y; models b on tasks z")."""
    parts = [i.split("/")[1:] for i in ids]
    if not all(len(p) == 2 for p in parts):
        return breakable(", ".join("/".join(p) for p in parts))
    by_task: dict[str, list[str]] = {}
    for task, model in parts:
        by_task.setdefault(task, []).append(model)
    by_models: dict[tuple[str, ...], list[str]] = {}
    for task, models in by_task.items():
        by_models.setdefault(tuple(models), []).append(task)
    return "; ".join(f"{_PART_WORDS[1]}s {breakable(', '.join(models))} on "
                     f"{_PART_WORDS[0]}s {breakable(', '.join(tasks))}"
                     for models, tasks in by_models.items())


def _summary_row(family: str, group: list) -> str:
    """One line for the not-tested lines ``group`` of claim ``family`` that share a reason."""
    prefix = _common_words([r.claim for r in group])
    statement = (latex_escape(prefix) + r" \ldots{} " if len(prefix.split()) >= 2 else "") + \
        f"({len(group)} lines: {_cells([r.id for r in group])})"
    reason = breakable(reason_template(group[0]))
    for i, word in enumerate(_PART_WORDS):
        reason = reason.replace(f"\0{i}\0", rf"\textit{{{word}}}")
    return " & ".join([r"\texttt{" + breakable(family) + "}", statement, MARK["not tested"], reason]) + r" \\"


def compact_rows(d: pd.DataFrame) -> list[str]:
    """The table lines of one paper's claims: every tested line as it is, and per claim (the id before its
    first '/') one summary line for each reason that two or more of its not-tested lines share (lines that
    carry measured numbers stay on their own), at the place of the first of them."""
    groups: dict[tuple[str, str], list] = {}
    keys = []
    for r in d.itertuples():
        key = None
        if r.verdict == "not tested" and not r.measured and "/" in r.id:
            key = (r.id.split("/")[0], reason_template(r))
            groups.setdefault(key, []).append(r)
        keys.append((key, r))
    lines, done = [], set()
    for key, r in keys:
        if key is None or len(groups[key]) == 1:
            lines.append(_row(r))
        elif key not in done:
            done.add(key)
            lines.append(_summary_row(key[0], groups[key]))
    return lines


def claims_section_tex(df: pd.DataFrame) -> str:
    lines = [r"\section{Claims}", r"\label{sec:claims}",
             r"Each claim of the two papers (our list: Grazzi et al.'s G1--G7 per task, Park et al.'s P1--P7, and",
             r"every cell of Park et al.'s Table~1 as its own line of \texttt{metrics/claims.csv}; below, the",
             r"untested lines of a claim that share their reason are one line) is judged by a criterion fixed",
             r"before the run and computed from this run's curves and tables (thresholds under",
             r"\texttt{report.claims} and \texttt{report.verdicts}; criteria below). A claim is \emph{not tested}",
             r"where this configuration lacks the runs it needs, or where the models it compares did not learn",
             r"the task at this scale",
             r"(their error is not clearly below the task's trivial level: the better of the zero predictor and",
             r"the averaging baseline, or chance for parity and MQAR): two untrained models that ``match'' say",
             r"nothing about the paper. Claims: \ClaimsTotal{};",
             r"reproduced: \ClaimsReproduced{}; not reproduced: \ClaimsNotReproduced{}; not tested in this",
             r"configuration: \ClaimsNotTested{}.", "",
             r"{\footnotesize", r"\newcolumntype{L}[1]{>{\raggedright\arraybackslash}p{#1}}",
             # the columns share the text width less the 3 inter-column gaps (fixed widths overran it by 1.6 pt)
             r"\begin{longtable}{@{}" + "".join(rf"L{{\dimexpr(\linewidth-6\tabcolsep)*{w}/1000\relax}}"
                                              for w in (175, 340, 110, 375)) + "@{}}", r"\toprule",
             r"Claim & Statement & Verdict & Measured, or what is missing \\", r"\midrule", r"\endhead"]
    for paper, d in df.groupby("paper", sort=False):
        lines.append(rf"\multicolumn{{4}}{{@{{}}l}}{{\textit{{{latex_escape(paper)} et al.}}}} \\")
        lines += compact_rows(d)
    lines += [r"\bottomrule", r"\end{longtable}", "}", "", r"\paragraph{Criteria.}", r"\begin{itemize}"]
    for family, criterion in dict.fromkeys(zip(df.id.str.split("/").str[0], df.criterion)):
        lines.append(rf"\item \texttt{{{latex_escape(family)}}}: {latex_escape(criterion)}.")
    lines.append(r"\end{itemize}")
    failed = df[df.verdict == "not reproduced"]
    if not failed.empty:
        lines += ["", r"\paragraph{Claims not reproduced.}"]
        for r in failed.itertuples():
            lines += ["", rf"\textbf{{\texttt{{{latex_escape(r.id)}}}}}: {latex_escape(r.claim)} "
                      rf"Criterion: {latex_escape(r.criterion)}. Measured: {latex_escape(r.measured)}{_see(r)}."]
    return "\n".join(lines) + "\n"


def claims_section_job(claims_csv: str, out_section: str, out_macros: str) -> None:
    df = pd.read_csv(claims_csv, keep_default_na=False)
    Path(out_section).write_text(claims_section_tex(df))
    Path(out_macros).write_text(macros_tex(claim_counts(df)))
