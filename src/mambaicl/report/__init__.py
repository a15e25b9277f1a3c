"""Report stage: LaTeX helpers (``latex``), display names (``labels``), drawing (``plots``,
``plots_probing``), one job per figure (``figures``) and table (``tables``), the generated results
section (``sections``), the macros files (``macros``) and reference-vs-replicated (``reference``)."""
