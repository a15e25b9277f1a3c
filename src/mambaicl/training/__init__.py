"""Training stage: Garg's curriculum (``curriculum``), the train loop with exact resume (``loop``),
checkpoints and trained models on disk (``checkpoints``) and the rule's job (``jobs``)."""
