"""In-context knowledge editing (IKE, Zheng et al. 2023): facts and chosen demonstrations in the prompt.

The prompt, for a query with retrieved facts (one block per demonstration, least similar first):

    New Fact: The mother tongue of Danielle Darrieux is English.
    Prompt: Danielle Darrieux's mother tongue is English

    ...
    New Fact: <fact.sentence()>
    Prompt: <query>

and the model completes the last line. Without facts the prompt is the query itself, unchanged, so
an unrelated question gets exactly the base model's answer.

The demonstrations are cloze lines. After "Prompt: <question>?" the model often starts a new
block instead of answering, and the answer, cut at the line break, is empty. The answerer then
puts the question again with its last line in its question frame (`render(..., frame=...)`;
`AnsweringSettings.reframe_empty_questions`, `Answerer.in_context_plan`).
"""
from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Sequence

from pydantic import BaseModel, Field

from kme_store.facts import Fact, normalize_name

from kme_server.editing.demos import Demo, DemoKind, DemoPool
from kme_server.editing.embedding import SentenceEmbedder, TextEmbedder

log = logging.getLogger(__name__)


def default_pool_path() -> Path:
    """The demonstration pool shipped in the package (built from CounterFact training records)."""
    return Path(str(resources.files("kme_server") / "data" / "ike_demos.jsonl"))


class IKESettings(BaseModel):
    """How IKE prompts are built."""

    # Demonstrations per prompt. The IKE paper uses 32 with large models; a 270M model on CPU pays
    # for every prompt token, and a handful already teaches the format.
    demos: int = Field(default=6, ge=0, le=64)
    # Relative shares of the kinds among the demonstrations (largest remainder rounding).
    # Copy and update teach to follow the new fact; retain teaches to ignore a fact that does not
    # apply, which guards neighbouring questions when retrieval returns a near miss.
    copy_weight: float = Field(default=1.0, ge=0)
    update_weight: float = Field(default=1.0, ge=0)
    retain_weight: float = Field(default=1.0, ge=0)
    # None: the pool shipped in kme_server/data. Only ever a pool built from training records.
    pool_path: Path | None = None
    # sentence-transformers model used to embed queries; must be the one the pool was embedded with.
    embedding_model: str | None = None
    embedding_device: str = "cpu"
    fact_label: str = "New Fact:"
    prompt_label: str = "Prompt:"

    def kind_counts(self) -> dict[DemoKind, int]:
        """How many demonstrations of each kind make up `demos`."""
        weights = {DemoKind.COPY: self.copy_weight, DemoKind.UPDATE: self.update_weight,
                   DemoKind.RETAIN: self.retain_weight}
        total = sum(weights.values())
        if self.demos == 0 or total <= 0:
            return {kind: 0 for kind in weights}
        exact = {kind: self.demos * w / total for kind, w in weights.items()}
        counts = {kind: int(x) for kind, x in exact.items()}
        # Largest remainder; ties go to the earlier kind (copy, update, retain) for stability.
        by_remainder = sorted(weights, key=lambda k: -(exact[k] - counts[k]))
        for kind in by_remainder[: self.demos - sum(counts.values())]:
            counts[kind] += 1
        return counts


@dataclass(frozen=True, slots=True)
class IKEPrompt:
    """A built prompt and what went into it."""

    text: str
    facts: tuple[Fact, ...] = ()
    demos: tuple[Demo, ...] = field(default=())


class InContextEditor:
    """Builds IKE prompts. The pool and the embedder load on first use or in warm_up(); thread-safe."""

    def __init__(self, settings: IKESettings | None = None, pool: DemoPool | None = None,
                 embedder: TextEmbedder | None = None) -> None:
        self.settings = settings or IKESettings()
        self._pool = pool
        self._embedder = embedder
        self._lock = threading.RLock()  # pool loading may need the embedder

    @property
    def embedder(self) -> TextEmbedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = SentenceEmbedder(self.settings.embedding_model, self.settings.embedding_device)
            return self._embedder

    @property
    def pool(self) -> DemoPool:
        with self._lock:
            if self._pool is None:
                path = self.settings.pool_path or default_pool_path()
                self._pool = DemoPool.load(path, self.embedder)
                log.info("loaded %d IKE demonstrations from %s", len(self._pool), path)
            return self._pool

    def warm_up(self) -> None:
        """Load the pool and the embedder now rather than on the first question."""
        if self.settings.demos > 0:
            _ = self.pool
            self.embedder.encode(["warm-up"])

    def select_demos(self, query: str, facts: Sequence[Fact] = (),
                     counts: dict[DemoKind, int] | None = None) -> list[Demo]:
        """The demonstrations for `query`, most similar last; none about the query's own subjects.

        A demonstration about a subject the query or its facts mention would state a different
        new fact about it and contradict the store.
        """
        counts = counts if counts is not None else self.settings.kind_counts()
        if not any(counts.values()):
            return []
        pool = self.pool
        vector = self.embedder.encode([query])[0]
        blocked = {normalize_name(f.subject) for f in facts}
        text = normalize_name(query)

        def exclude(demo: Demo) -> bool:
            key = normalize_name(demo.subject)
            # Whole words only: the subject "Ra" must not block a question about "Rabat".
            return key in blocked or re.search(rf"(?<!\w){re.escape(key)}(?!\w)", text) is not None

        return [demo for demo, _ in pool.select(vector, counts, exclude)]

    def render(self, query: str, facts: Sequence[Fact], demos: Sequence[Demo], *, frame: str | None = None) -> str:
        """The prompt text; exactly `query` when there are no facts.

        `frame` (a question frame such as "Q: {}\nA:"): the last line is `query` in it rather than
        after the prompt label.
        """
        if not facts:
            return query
        s = self.settings
        blocks = [f"{s.fact_label} {d.fact}\n{s.prompt_label} {d.prompt} {d.answer}\n\n" for d in demos]
        seen: list[str] = []
        for sentence in (f.sentence() for f in facts):
            if sentence not in seen:  # two hits on one fact would say it twice
                seen.append(sentence)
        facts_block = "".join(f"{s.fact_label} {sentence}\n" for sentence in seen)
        if frame is not None:
            return "".join(blocks) + facts_block + frame.format(query.strip())
        return "".join(blocks) + facts_block + f"{s.prompt_label} {query}"

    def build(self, query: str, facts: Sequence[Fact], counts: dict[DemoKind, int] | None = None) -> IKEPrompt:
        """The IKE prompt for `query` given the retrieved `facts` (the query itself if none).

        `counts` overrides how many demonstrations of each kind (the settings' mix by default).
        """
        if not facts:
            return IKEPrompt(text=query)
        demos = self.select_demos(query, facts, counts)
        return IKEPrompt(text=self.render(query, facts, demos), facts=tuple(facts), demos=tuple(demos))
