"""Where an evaluation sends its edits and questions: a running service, or an engine in-process."""
from __future__ import annotations

from typing import Any, Protocol, Sequence

from kme_server.answering import Answerer
from kme_server.answers import Mode


class Backend(Protocol):
    """What the evaluation needs: store and delete edits, ask, score, retrieve."""

    def modes(self) -> set[str]:
        """Names of the modes the answering side serves ("none", "in_context", ...)."""
        ...

    def add(self, edits: Sequence[dict[str, Any]]) -> list[int]:
        """Store the edits; the stored facts' ids."""
        ...

    def delete(self, ids: Sequence[int]) -> None:
        ...

    def ask(self, texts: Sequence[str], mode: str) -> list[str]:
        """The answer of each text in `mode`, in order."""
        ...

    def ask_results(self, texts: Sequence[str], mode: str) -> list[Any]:
        """The whole result of each text (answer, mode, chain of hops), in order."""
        ...

    def score(self, prompt: str, candidates: Sequence[str], mode: str) -> list[float]:
        """Log-probability of each candidate after `prompt` in `mode`."""
        ...

    def retrieve(self, text: str) -> list[str]:
        """The retrieved facts of `text` as sentences, best first (the service's own k and threshold)."""
        ...


class LocalBackend:
    """An Answerer and its store in this process: batched generation, shared completions.

    Questions are routed one by one as the service routes them; their prompts then complete in
    batches (Answerer.ask_many). A prompt already completed, in any mode, is not completed again:
    greedy decoding makes the completion a function of the prompt.
    """

    def __init__(self, answerer: Answerer, store: Any) -> None:
        self.answerer = answerer
        self.store = store
        self._memo: dict[tuple[str, str], str] = {}

    def modes(self) -> set[str]:
        return {m.value for m in self.answerer.modes}

    def add(self, edits: Sequence[dict[str, Any]]) -> list[int]:
        return list(self.store.add(list(edits)).ids)

    def delete(self, ids: Sequence[int]) -> None:
        self.store.delete(list(ids))

    def ask(self, texts: Sequence[str], mode: str) -> list[str]:
        return [r.answer for r in self.ask_results(texts, mode)]

    def ask_results(self, texts: Sequence[str], mode: str) -> list[Any]:
        return self.answerer.ask_many(list(texts), Mode.parse(mode), memo=self._memo)

    def score(self, prompt: str, candidates: Sequence[str], mode: str) -> list[float]:
        return [c.logprob for c in self.answerer.score(prompt, list(candidates), Mode.parse(mode))]

    def retrieve(self, text: str) -> list[str]:
        settings = self.answerer.settings
        return [h.fact.sentence() for h in self.store.retrieve(text, k=settings.k, threshold=settings.min_score)]


class ClientBackend:
    """A running service through kme_client: exactly what its users see."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def modes(self) -> set[str]:
        # The service answers a mode it does not serve (SERAC without a trained classifier) with
        # INVALID_ARGUMENT on the field "mode"; a one-token Score call per mode finds out cheaply.
        from kme_client import InvalidArgument

        served = set()
        for mode in Mode:
            try:
                self.client.score("kme", [" eval"], mode=mode.value)
            except InvalidArgument as error:
                if not any(field == "mode" for field, _ in error.violations):
                    raise
                continue
            served.add(mode.value)
        return served

    def add(self, edits: Sequence[dict[str, Any]]) -> list[int]:
        return list(self.client.add_facts(list(edits)).ids)

    def delete(self, ids: Sequence[int]) -> None:
        self.client.delete(list(ids))

    def ask(self, texts: Sequence[str], mode: str) -> list[str]:
        return [r.answer for r in self.ask_results(texts, mode)]

    def ask_results(self, texts: Sequence[str], mode: str) -> list[Any]:
        return [self.client.ask(t, mode=mode) for t in texts]

    def score(self, prompt: str, candidates: Sequence[str], mode: str) -> list[float]:
        return [c.logprob for c in self.client.score(prompt, list(candidates), mode=mode)]

    def retrieve(self, text: str) -> list[str]:
        return [h.fact.text for h in self.client.retrieve(text)]


__all__ = ["Backend", "ClientBackend", "LocalBackend"]
