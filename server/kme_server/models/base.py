"""The interface every language-model backend offers to the rest of the service."""
from __future__ import annotations

from typing import Iterator, Protocol, Sequence

from kme_server.answers import CandidateScore, GenerationOptions


class LanguageModel(Protocol):
    """A causal language model behind one lock: calls may come from many threads.

    Implementations serialize access to the underlying model (or batch), so callers never run
    two forward passes side by side on one model.
    """

    name: str

    def generate(self, prompt: str, options: GenerationOptions = GenerationOptions()) -> str:
        """The completion of `prompt` (prompt excluded), cut at the first stop string."""
        ...

    def stream(self, prompt: str, options: GenerationOptions = GenerationOptions()) -> Iterator[str]:
        """The same completion as generate(), as text pieces while they are decoded."""
        ...

    def score(self, prompt: str, candidates: Sequence[str]) -> list[CandidateScore]:
        """Log-probability of each candidate as the continuation of `prompt`."""
        ...

    def count_tokens(self, text: str) -> int:
        ...

    def chat_prompt(self, user_text: str) -> str:
        """`user_text` wrapped in the model's chat template, or unchanged if it has none."""
        ...


def generate_all(model: LanguageModel, prompts: Sequence[str],
                 options: GenerationOptions = GenerationOptions()) -> list[str]:
    """generate() of every prompt, in order: batched when the model has generate_batch()
    (HFLanguageModel: several prompts per forward pass, several times the throughput on a CPU)."""
    batch = getattr(model, "generate_batch", None)
    if callable(batch) and prompts:
        return batch(list(prompts), options)
    return [model.generate(p, options) for p in prompts]
