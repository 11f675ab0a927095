"""Test doubles shared by the tests: a fast embedder whose similarities still mean something."""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from kme_store.facts import normalize_name


class TrigramEmbedder:
    """Hashes character trigrams of a text into a fixed-size unit vector.

    Texts that share words get similar vectors, which is all the store's logic needs in a unit
    test; the real MiniLM model is used by the end-to-end tests.
    """

    def __init__(self, dim: int = 128) -> None:
        self.dim = dim
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            t = f"  {normalize_name(text)} "
            for i in range(len(t) - 2):
                h = int.from_bytes(hashlib.blake2b(t[i:i + 3].encode(), digest_size=4).digest(), "little")
                out[row, h % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)
