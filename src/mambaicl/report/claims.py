"""The paper's Claims section and its count macros, from ``metrics/claims.csv`` (``analysis.claims``):
a table of every claim with its verdict and the numbers behind it, the criteria, then one paragraph per
claim that is not reproduced (``workflow/scripts/claims_section.py``)."""

from __future__ import annotations

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


def claims_section_tex(df: pd.DataFrame) -> str:
    lines = [r"\section{Claims}", r"\label{sec:claims}",
             r"Each claim of the two papers (our list: Grazzi et al.'s G1--G7 per task, Park et al.'s P1--P7, and",
             r"every cell of Park et al.'s Table~1 as its own line) is judged by a criterion fixed before the run",
             r"and computed from this run's curves and tables (thresholds under \texttt{report.claims} and",
             r"\texttt{report.verdicts}; criteria below). A claim is \emph{not tested} where this configuration",
             r"lacks the runs it needs, or where the models it compares did not learn the task at this scale",
             r"(their error is not clearly below the task's trivial level: the better of the zero predictor and",
             r"the averaging baseline, or chance for parity and MQAR): two untrained models that ``match'' say",
             r"nothing about the paper. Claims: \ClaimsTotal{};",
             r"reproduced: \ClaimsReproduced{}; not reproduced: \ClaimsNotReproduced{}; not tested in this",
             r"configuration: \ClaimsNotTested{}.", "",
             r"{\footnotesize", r"\newcolumntype{L}[1]{>{\raggedright\arraybackslash}p{#1}}",
             r"\begin{longtable}{@{}L{2.7cm}L{5.3cm}L{1.7cm}L{5.6cm}@{}}", r"\toprule",
             r"Claim & Statement & Verdict & Measured, or what is missing \\", r"\midrule", r"\endhead"]
    for paper, d in df.groupby("paper", sort=False):
        lines.append(rf"\multicolumn{{4}}{{@{{}}l}}{{\textit{{{latex_escape(paper)} et al.}}}} \\")
        lines += [_row(r) for r in d.itertuples()]
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
