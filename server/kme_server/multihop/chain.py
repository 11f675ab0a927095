"""Question -> start entity and relation chain: the parse every extractor returns, and the start entity."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol, Sequence

from kme_store.facts import Fact, StoredRelation
from kme_store.mentions import spans

from kme_server.multihop.relations import STOPWORDS, Relation

# A quoted title ("Devious Maids", “Hey Jude”) names the start entity more surely than anything.
_QUOTED = re.compile(r"[\"“”«»]([^\"“”«»]{2,120})[\"“”«»]")
# Capitalized words, allowing the small words inside names ("Prince of Persia", "Sketches by Boz").
_NAME = re.compile(r"(?:[A-Z0-9][\w'’.\-]*)(?:\s+(?:(?:of|the|de|du|la|le|von|van|and|by|in|for|on|a|del|di|&)\s+)*"
                   r"[A-Z0-9][\w'’.\-]*)*")
_QUESTION_WORDS = frozenset("what which who whom whose where when how in on at from to is was does did".split())
# The first letter of the word after a span, when only spaces come between.
_NEXT_LETTER = re.compile(r"[ \t]+([^\W\d_])")


class FactSource(Protocol):
    """The part of kme_store.KnowledgeStore that multi-hop answering reads."""

    def entity_ids(self, name: str) -> list[int]:
        ...

    def facts_about(self, entity: str) -> list[Fact]:
        ...

    def lookup(self, entity: str, relation: str) -> list[Fact]:
        ...

    def relations(self, skip: int = 0) -> list[StoredRelation]:
        ...


@dataclass(frozen=True, slots=True)
class StartEntity:
    """Where the walk begins: the name as written in the question and its character range."""

    name: str
    start: int
    end: int
    in_store: bool  # the store holds an entity with this name or alias

    def residual(self, question: str) -> str:
        """The question without the entity: the words that name the relations."""
        return f"{question[:self.start]} {question[self.end:]}".strip()


@dataclass(slots=True)
class ChainParse:
    """An extractor's reading of a question: start entity, relations innermost first, confidence."""

    entity: StartEntity
    relations: list[Relation]
    score: float  # extractor-specific confidence, comparable with MultiHopSettings.min_confidence
    store_hops: int = 0  # hops of the chain the store can follow from the start entity
    alternatives: list[tuple[list[str], float]] = field(default_factory=list)  # runner-up chains (keys, score)

    @property
    def keys(self) -> list[str]:
        return [r.key for r in self.relations]


class ChainExtractor(Protocol):
    """Reads a relation chain from a question."""

    def extract(self, question: str) -> ChainParse | None:
        """The best chain, or None when the question names no start entity or relation."""
        ...


def find_start(question: str, store: FactSource, max_words: int = 10) -> StartEntity | None:
    """The entity the question starts from.

    A stored entity mentioned by name wins (the longest, preferring one the store has facts
    about, then the last: questions are written outside-in, so the start comes late), unless a
    capitalized word follows it, continuing a longer name; else a quoted span; else the longest
    run of capitalized words that is not a question word.
    """
    found: list[tuple[tuple[int, int, int], StartEntity]] = []
    for span in spans(question, max_words):
        words = span.text.lower().split()
        # A span of relation words only ("country", "head of state") is no start entity even if
        # some stored entity bears that name.
        if all(w in STOPWORDS for w in words) or not any(ch.isupper() or ch.isdigit() for ch in span.text):
            continue
        # "Vanderbilt University Department of Leadership" names a department, not the stored
        # university: walking from the university answered for it (CounterFact locality prompts).
        if _name_goes_on(question, span.end):
            continue
        if store.entity_ids(span.text):
            has_facts = 1 if store.facts_about(span.text) else 0
            found.append(((has_facts, span.end - span.start, span.start),
                          StartEntity(span.text, span.start, span.end, True)))
    if found:
        return max(found, key=lambda x: x[0])[1]
    quoted = list(_QUOTED.finditer(question))
    if quoted:
        m = max(quoted, key=lambda m: len(m.group(1)))
        return StartEntity(m.group(1).strip(), m.start(1), m.end(1), False)
    best: StartEntity | None = None
    for m in _NAME.finditer(question):
        text, start = m.group(0), m.start()
        # The question's first word is capitalized for grammar, not because it names something.
        first = text.split()[0]
        if first.lower() in _QUESTION_WORDS:
            rest = text[len(first):].lstrip()
            start += len(text) - len(rest)
            text = rest
        text = text.rstrip(".'’")
        text = re.sub(r"['’]s$", "", text)
        if not text:
            continue
        if best is None or len(text) > len(best.name):
            best = StartEntity(text, start, start + len(text), False)
    return best


def _name_goes_on(question: str, end: int) -> bool:
    """Whether a capitalized word follows the span ending at `end`, continuing a longer name."""
    m = _NEXT_LETTER.match(question, end)
    return m is not None and m.group(1).isupper()


def compose(relations: Sequence[Relation], entity: str) -> str:
    """The question a chain asks, written outside-in: "What is the capital of the country of X?"."""
    inner = entity
    for rel in relations[:-1]:
        inner = rel.noun.format(inner)
    return relations[-1].question.format(inner)
