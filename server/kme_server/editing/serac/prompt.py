"""The prompt of SERAC's trained counterfactual model: one edit, then the question.

Its own module because the answerer builds it on every in-scope question and must not import the
training code (torch, the data loaders) to do so.
"""
from __future__ import annotations

FACT_LABEL = "New Fact:"
PROMPT_LABEL = "Prompt:"
# What the model answers when the edit does not bear on the question after all (the scope
# classifier erred): the question then goes to the untouched base model. Not a plausible answer
# to any question, so that a real answer is never taken for it.
ABSTAIN = "(unchanged)"


def edit_prompt(query: str, fact_sentence: str) -> str:
    """The prompt the counterfactual model completes; the answer follows after a space."""
    return f"{FACT_LABEL} {fact_sentence}\n{PROMPT_LABEL} {query}"


__all__ = ["ABSTAIN", "FACT_LABEL", "PROMPT_LABEL", "edit_prompt"]
