"""Evaluation stage: seeded prompt sets on disk (``prompt_sets``), the classical baselines
(``baselines``), Garg's out-of-distribution suite (``ood``), further evaluation settings and which
baselines score each set (``settings``), scoring and per-position curves (``scoring``), bootstrap
statistics (``stats``) and the rules' jobs (``jobs``)."""
