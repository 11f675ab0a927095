"""The vector index interface: stable int64 ids (fact ids), real deletes, inner-product search."""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np


class VectorIndex(ABC):
    """Vectors keyed by fact id. Vectors are L2-normalized, so inner product is cosine."""

    kind: str

    @abstractmethod
    def upsert(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        """Store `vecs[i]` under `ids[i]`, replacing what an id held before."""

    @abstractmethod
    def remove(self, ids: np.ndarray) -> int:
        """Remove these ids (absent ones are ignored); returns how many were removed."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each of shape (len(queries), k); missing results have id -1."""

    @abstractmethod
    def ids(self) -> np.ndarray:
        """Every id held, in no particular order."""

    @abstractmethod
    def __len__(self) -> int:
        ...

    @abstractmethod
    def save(self, path: Path) -> None:
        """Write the index to `path` atomically (a reader never sees half a file)."""
