"""Finding the entities a query names: exact and alias matches over word spans, fuzzy by trigrams."""
from __future__ import annotations

import re
from dataclasses import dataclass

from kme_store.facts import normalize_name

_WORD = re.compile(r"\w+")
# Punctuation that may close a name ("Washington, D.C.", "Apple Inc.", "C#", "C++", "Help!").
_CLOSERS = ".)#+!"
_MAX_CLOSERS = 2


@dataclass(frozen=True, slots=True)
class Span:
    """A run of words of the query: its text as written and its character range."""

    text: str
    start: int
    end: int

    @property
    def words(self) -> int:
        return len(_WORD.findall(self.text))


@dataclass(frozen=True, slots=True)
class Mention:
    """An entity named in the query."""

    entity_id: int
    span: Span
    score: float  # 1.0 for an exact name or alias; the trigram similarity for a fuzzy one


def spans(query: str, max_words: int) -> list[Span]:
    """Every run of 1..max_words consecutive words, and its variants closed by one or two of
    _CLOSERS (a word pattern alone never reads "C#" or "C++")."""
    words = list(_WORD.finditer(query))
    out: list[Span] = []
    for i, first in enumerate(words):
        for j in range(i, min(i + max_words, len(words))):
            start, end = first.start(), words[j].end()
            out.append(Span(query[start:end], start, end))
            k = end
            while k < len(query) and k - end < _MAX_CLOSERS and query[k] in _CLOSERS:
                k += 1
                out.append(Span(query[start:k], start, k))
    return out


def exact_mentions(query: str, lookup, max_words: int, case_sensitive_below: int) -> list[Mention]:
    """Entities whose name or alias equals a span of the query, longest non-overlapping first.

    `lookup(norms)` returns (norm, entity id, stored name) rows. Short names must match with the
    same letter case, so that the alias "US" is not read into "tell us".
    """
    candidates = spans(query, max_words)
    by_norm: dict[str, list[Span]] = {}
    for span in candidates:
        by_norm.setdefault(normalize_name(span.text), []).append(span)
    found: list[Mention] = []
    for norm, entity_id, name in lookup(list(by_norm)):
        for span in by_norm[norm]:
            if len(norm) < case_sensitive_below and span.text != name:
                continue
            found.append(Mention(entity_id, span, 1.0))
    # Longest first; a span inside an already kept span names a part of that entity, not another.
    found.sort(key=lambda m: (-(m.span.end - m.span.start), m.span.start))
    kept: list[Mention] = []
    for m in found:
        if all(m.span.end <= k.span.start or m.span.start >= k.span.end or
               (m.span.start, m.span.end) == (k.span.start, k.span.end) for k in kept):
            kept.append(m)
    return kept


def trigrams(text: str) -> set[str]:
    t = f"  {normalize_name(text)} "
    return {t[i:i + 3] for i in range(len(t) - 2)}


@dataclass(frozen=True, slots=True)
class SpanGrams:
    """A query span with its word count and trigrams, computed once for every name it is scored against."""

    span: Span
    words: int
    grams: frozenset[str]


def span_grams(query_spans: list[Span]) -> list[SpanGrams]:
    return [SpanGrams(span, span.words, frozenset(trigrams(span.text))) for span in query_spans]


def fuzzy_score(name: str, query_spans: list[SpanGrams]) -> tuple[float, Span | None]:
    """Best trigram Jaccard similarity of `name` to a span of about as many words."""
    target = trigrams(name)
    n_words = len(_WORD.findall(name))
    best, best_span = 0.0, None
    for indexed in query_spans:
        if abs(indexed.words - n_words) > 1:
            continue
        span, grams = indexed.span, indexed.grams
        score = len(target & grams) / len(target | grams)
        if score > best:
            best, best_span = score, span
    return best, best_span
