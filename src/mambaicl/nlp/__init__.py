"""The NLP few-shot study (Grazzi et al. 2024, section 4): 18 tasks, prompts, scoring, pretrained models,
batched one-token evaluation, the context-length sweep and the report's tables and figures."""
