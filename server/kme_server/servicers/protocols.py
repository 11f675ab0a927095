"""What the servicers need from the store and the answering engine, as structural interfaces."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

from kme_server.answers import AskResult, CandidateScore, GenerationOptions, Mode
from kme_store.facts import EditRequest, Fact, FactStatus, Hit, ImportSummary, LineError


@runtime_checkable
class AnsweringEngine(Protocol):
    """The answering core as the service sees it. Synchronous and slow (a CPU model).

    The servicers call it from worker threads, several at a time, so implementations must be
    thread-safe (the language model serializes its forward passes itself).
    """

    def ready(self) -> bool:
        """True once the model is loaded and warmed up. Called often from the event loop: cheap."""
        ...

    def ask(self, text: str, mode: Mode | None, options: GenerationOptions | None) -> AskResult:
        """The answer to `text` with the stored facts applied as `mode` says.

        `mode` None: the engine's default mode; `options` None: its default decoding options.
        The result's `mode` is the mode actually used.
        """
        ...

    def stream(self, text: str, mode: Mode | None, options: GenerationOptions | None) -> Iterator[str | AskResult]:
        """The same answer as ask(): text pieces while decoded, then the AskResult as the last item.

        The caller stops iterating (and closes the iterator) when the client cancels, so a
        generator implementation stops decoding at its next yield.
        """
        ...

    def score(self, prompt: str, candidates: Sequence[str], mode: Mode | None) -> list[CandidateScore]:
        """Log-probability of each candidate as the continuation of `prompt`, in order."""
        ...


class AddResult(Protocol):
    ids: list[int]
    batch_id: str


class KnowledgeStoreLike(Protocol):
    """The part of kme_store.KnowledgeStore (docs/ARCHITECTURE.md) that the servicers call."""

    def add(self, items: Sequence[Fact | EditRequest | Mapping[str, Any]], batch_id: str | None = None,
            source: str | None = None) -> AddResult: ...

    def import_file(self, path: str | Path, format: str | None = None, strict: bool = False,
                    progress: Callable[..., Any] | None = None) -> ImportSummary: ...

    def import_records(self, records: Iterable[tuple[int, Fact | LineError]], batch_id: str | None = None,
                       strict: bool = False, progress: Callable[..., Any] | None = None) -> ImportSummary: ...

    def get(self, fact_id: int) -> Fact: ...

    def list_facts(self, subject: str | None = None, relation: str | None = None, batch_id: str | None = None,
                   status: FactStatus = FactStatus.CURRENT, offset: int = 0, limit: int = 100) -> list[Fact]: ...

    def retrieve(self, query: str, k: int = 5, threshold: float | None = None) -> list[Hit]: ...

    def delete(self, ids: Sequence[int]) -> int: ...

    def rollback(self, edit_or_batch_id: int | str) -> int: ...

    def stats(self) -> Any: ...

    def close(self) -> None: ...


class EngineSlot:
    """Holds the engine once it is built: the server starts serving the store before the model loads."""

    def __init__(self, engine: AnsweringEngine | None = None) -> None:
        self.engine = engine
        self.failed: str | None = None  # why building the engine failed, for error messages

    def ready(self) -> bool:
        return self.engine is not None and bool(self.engine.ready())
