"""Vector indexes over fact embeddings: a base, CPU and GPU FAISS backends, and a factory."""
from __future__ import annotations

from kme_store.index.base import VectorIndex
from kme_store.index.factory import create_index, load_index

__all__ = ["VectorIndex", "create_index", "load_index"]
