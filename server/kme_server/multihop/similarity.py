"""How alike two relations are in meaning: embedding similarity of their noun phrases, cached."""
from __future__ import annotations

import threading

import numpy as np

from kme_store.embedder import Embedder

from kme_server.multihop.relations import Relation


class RelationSimilarity:
    """Cosine similarity of two relations' noun phrases ("the country of origin of", "the country of").

    The noun phrase is the one wording every relation has in the same form, so phrases compare
    like with like (a cloze and a question of the same relation would differ more than two
    relations' nouns do). Used by the walker to let a stored relation stand in for the asked one.
    """

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._vecs: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def __call__(self, a: Relation, b: Relation) -> float:
        if a.key == b.key:
            return 1.0
        va, vb = self._vectors([_phrase(a), _phrase(b)])
        return float(va @ vb)

    def _vectors(self, texts: list[str]) -> list[np.ndarray]:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._vecs]
            if missing:
                for t, v in zip(missing, self.embedder.encode(missing)):
                    self._vecs[t] = np.asarray(v, dtype=np.float32)
            return [self._vecs[t] for t in texts]


def _phrase(rel: Relation) -> str:
    return rel.noun.replace("{}", "").strip()
