# Compile the report. The same main.tex serves the smoke and the paper run; the macros say which.


rule paper:
    input:
        tex="paper/main.tex",
        sections=sorted(str(p) for p in Path("paper/sections").glob("*.tex")),
        bib="paper/references.bib",
        **PAPER_INPUTS,
    output:
        "paper/main.pdf",
    log:
        f"{LOGS}/paper/latexmk.log",
    shell:
        "(cd paper && latexmk -pdf -interaction=nonstopmode -halt-on-error -outdir=build main.tex) "
        "> {log} 2>&1 && cp paper/build/main.pdf {output}"
