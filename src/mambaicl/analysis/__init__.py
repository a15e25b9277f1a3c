"""Analysis stage: probing with its config section and GD references (``probing``, ``probe_config``,
``gd_reference``), Park et al.'s verdicts (``verdicts``), forward cost against sequence length
(``scaling``) and parameter counts (``param_counts``)."""
