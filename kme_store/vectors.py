"""Fact and query vectors: a lexical part for entity names, a semantic part for relations.

A question names a subject and asks for a relation. Names are best matched by their letters
(a misspelled or possessive name still shares most character trigrams with the stored one) and
cost microseconds to encode; relations are best matched by meaning ("citizen of", "nationality")
and are few, so each relation phrase is embedded once with the sentence model. A fact vector is

    [ sqrt(w) * trigrams(subject name) ; sqrt(1 - w) * embedding(relation phrase) ]

and a query vector is the same with the query's trigrams and the query's embedding, so their
inner product is w * lexical similarity + (1 - w) * semantic similarity. Embedding every distinct
subject name with MiniLM instead ran below 1,000 names/s on two cores, a third of the import rate
the store must sustain.
"""
from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np

from kme_store.embedder import normalize_rows
from kme_store.facts import normalize_name
from kme_store.storage import FactRow

# Width of the hashed trigram part. 128 buckets keep unrelated short names near-orthogonal
# (about 15 trigrams each) while adding half a kilobyte per fact to the index at most.
LEXICAL_DIM = 128
# Share of the lexical part in the inner product.
LEXICAL_WEIGHT = 0.5


def relation_phrase(label: str, template: str | None) -> str:
    """The text embedded for a relation: its label and the words of its cloze template."""
    if template:
        words = " ".join(template.replace("{}", " ").split())
        if words and words.casefold() != label.casefold():
            return f"{label}: {words}"
    return label


def lexical_vectors(texts: Sequence[str]) -> np.ndarray:
    """Unit vectors of hashed character trigrams (crc32: stable across processes and runs)."""
    out = np.zeros((len(texts), LEXICAL_DIM), np.float32)
    for row, text in enumerate(texts):
        padded = f"  {normalize_name(text)} "
        for i in range(len(padded) - 2):
            out[row, zlib.crc32(padded[i:i + 3].encode()) % LEXICAL_DIM] += 1.0
    return normalize_rows(out)


def vector_dim(semantic_dim: int) -> int:
    return LEXICAL_DIM + semantic_dim


def _join(lexical: np.ndarray, semantic: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.hstack([np.sqrt(LEXICAL_WEIGHT) * lexical,
                                           np.sqrt(1 - LEXICAL_WEIGHT) * semantic]), dtype=np.float32)


class RelationVectors:
    """Sentence embeddings of the store's relations, held in memory (there are few relations)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._vecs: dict[int, np.ndarray] = {}

    def set(self, relation_id: int, vec: np.ndarray) -> None:
        self._vecs[relation_id] = vec

    def get(self, relation_id: int) -> np.ndarray:
        return self._vecs.get(relation_id, np.zeros(self.dim, np.float32))

    def __contains__(self, relation_id: int) -> bool:
        return relation_id in self._vecs


def fact_vectors(rows: Sequence[FactRow], subject_names: dict[int, str], relations: RelationVectors) -> np.ndarray:
    """Unit vectors of these facts (see the module docstring)."""
    if not rows:
        return np.zeros((0, vector_dim(relations.dim)), np.float32)
    lexical = lexical_vectors([subject_names[r.subject_id] for r in rows])
    semantic = np.vstack([relations.get(r.relation_id) for r in rows])
    return _join(lexical, semantic)


def query_vector(query: str, semantic: np.ndarray) -> np.ndarray:
    """The query's vector in the space of fact vectors, from its text and its sentence embedding."""
    return _join(lexical_vectors([query]), semantic[None, :])[0]
