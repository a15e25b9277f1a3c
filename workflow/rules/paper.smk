# Compile the report. The same static sources (paper/main.tex, paper/sections/, paper/references.bib) serve
# every config; the generated files and the PDF live in the run's own folder REPORT
# (results/<run_name>/paper/), so two configs never share an output, even when run side by side.
#
# latexmk runs in paper/ and writes into REPORT/build; TEXINPUTS puts REPORT first on TeX's search path,
# so the sources' \input{generated/...} and \includegraphics{generated/...} read this run's files
# (bibtex finds references.bib in paper/, latexmk's working directory).

if workflow.is_main_process and any(Path(p).exists() for p in ("paper/generated", "paper/main.pdf")):
    print("note: paper/generated/ and paper/main.pdf are left over from an older layout and are no longer "
          f"read or written; this run's report is {PAPER_PDF}. Delete them.", file=sys.stderr)


rule paper:
    input:
        tex="paper/main.tex",
        sections=sorted(str(p) for p in Path("paper/sections").glob("*.tex")),
        bib="paper/references.bib",
        sty="paper/floats.sty",
        **PAPER_INPUTS,
    output:
        PAPER_PDF,
    params:
        report=lambda w, output: Path(output[0]).parent.as_posix(),  # REPORT
    log:
        f"{LOGS}/paper/latexmk.log",
    shell:
        'root="$PWD" && (cd paper && TEXINPUTS="$root/{params.report}:" latexmk -pdf -interaction=nonstopmode '
        '-halt-on-error -outdir="$root/{params.report}/build" main.tex) > {log} 2>&1 '
        '&& cp {params.report}/build/main.pdf {output}'
