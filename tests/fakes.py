"""Test doubles shared by the tests: a fast embedder whose similarities still mean something."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from kme_store.vectors import LEXICAL_DIM, lexical_vectors


class TrigramEmbedder:
    """Stands in for the sentence model with the store's own hashed character trigrams.

    Texts that share words get similar vectors, which is all the store's logic needs in a unit
    test; the real MiniLM model is used by the end-to-end tests.
    """

    dim = LEXICAL_DIM

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        return lexical_vectors(list(texts))
