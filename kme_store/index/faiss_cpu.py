"""FAISS on the CPU: exact search while small, IVF with 8-bit scalar quantization past a threshold."""
from __future__ import annotations

import contextlib
import logging
import math
import os
from pathlib import Path
from typing import Iterator

import faiss
import numpy as np

from kme_store.index.base import VectorIndex
from kme_store.settings import IndexSettings

log = logging.getLogger(__name__)

# IVF training needs a few dozen points per list; more than this many training points adds time,
# not quality.
_MAX_TRAIN = 100_000
# Rebuild the IVF with more lists once the index has grown this much past its training size, so
# that the lists probed per query stay short.
_REGROW = 8


def _as_ids(ids: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(ids, dtype=np.int64)


def _as_vecs(vecs: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(vecs, dtype=np.float32)


@contextlib.contextmanager
def omp_threads(threads: int) -> Iterator[None]:
    """FAISS's OpenMP threads set to `threads` (0: unchanged) for the block, then restored.

    OpenMP keeps this setting per calling thread, so a search on one gRPC worker thread does not
    change the threads another uses, and IVF training on add() keeps every core.
    """
    if threads <= 0:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class FaissIndex(VectorIndex):
    """IndexIDMap2(Flat) below `approximate_threshold`, IVF-SQ8 with a hash direct map above.

    Both support remove_ids, so a deleted or superseded fact leaves the index for real; neither
    is HNSW, whose FAISS implementation cannot delete.
    """

    def __init__(self, dim: int, settings: IndexSettings, index: faiss.Index | None = None,
                 trained_size: int = 0) -> None:
        self.dim = dim
        self.settings = settings
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._trained_size = trained_size

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "ivf" if isinstance(self._index, faiss.IndexIVF) else "flat"

    @property
    def raw(self) -> faiss.Index:
        return self._index

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def upsert(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        ids, vecs = _as_ids(ids), _as_vecs(vecs)
        if len(ids) == 0:
            return
        self.remove(ids)
        self._index.add_with_ids(vecs, ids)
        self._maybe_grow()

    def remove(self, ids: np.ndarray) -> int:
        ids = _as_ids(ids)
        if len(ids) == 0 or len(self) == 0:
            return 0
        if isinstance(self._index, faiss.IndexIVF):
            # The hash direct map removes only through an array selector (FAISS's rule).
            return int(self._index.remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids))))
        return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = _as_vecs(np.atleast_2d(queries))
        if len(self) == 0 or k <= 0:
            return (np.zeros((len(queries), max(k, 0)), np.float32), np.full((len(queries), max(k, 0)), -1, np.int64))
        if isinstance(self._index, faiss.IndexIVF):
            self._index.nprobe = self.settings.nprobe
        with omp_threads(self.settings.search_threads):
            return self._index.search(queries, k)

    def ids(self) -> np.ndarray:
        if isinstance(self._index, faiss.IndexIDMap2):
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)
        ivf = self._index
        out = []
        for lst in range(ivf.nlist):
            size = ivf.invlists.list_size(lst)
            if size:
                ptr = ivf.invlists.get_ids(lst)
                out.append(faiss.rev_swig_ptr(ptr, size).copy())
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored (for IVF: decoded) vectors of these ids."""
        return np.vstack([self._index.reconstruct(int(i)) for i in ids]) if len(ids) else np.zeros((0, self.dim), np.float32)

    def _maybe_grow(self) -> None:
        n = len(self)
        if self.kind == "flat" and n >= self.settings.approximate_threshold:
            self._rebuild_ivf()
        elif self.kind == "ivf" and n >= _REGROW * max(self._trained_size, 1):
            self._rebuild_ivf()

    def _rebuild_ivf(self) -> None:
        """Train an IVF on the vectors held and move them into it."""
        ids = self.ids()
        vecs = self._all_vectors(ids)
        # FAISS wants about 39 training points per list; fewer gives poor centroids.
        nlist = max(1, min(int(math.sqrt(len(ids)) * self.settings.ivf_lists_per_sqrt), len(ids) // 39))
        log.info("building an IVF index: %d vectors, %d lists", len(ids), nlist)
        quantizer = faiss.IndexFlatIP(self.dim)
        qtype = faiss.ScalarQuantizer.QT_8bit if self.settings.quantize else faiss.ScalarQuantizer.QT_fp16
        ivf = faiss.IndexIVFScalarQuantizer(quantizer, self.dim, nlist, qtype, faiss.METRIC_INNER_PRODUCT)
        # Seeded sample so that the same data gives the same index.
        rng = np.random.default_rng(0)
        train = vecs if len(vecs) <= _MAX_TRAIN else vecs[rng.choice(len(vecs), _MAX_TRAIN, replace=False)]
        ivf.train(train)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
        ivf.add_with_ids(vecs, ids)
        ivf.quantizer_trains_alone = 0
        self._index = ivf
        self._trained_size = len(ids)

    def _all_vectors(self, ids: np.ndarray) -> np.ndarray:
        if isinstance(self._index, faiss.IndexIDMap2):
            # The flat storage's rows are in the same order as id_map.
            return faiss.downcast_index(self._index.index).reconstruct_n(0, len(ids))
        return self.vectors(ids)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        faiss.write_index(self._index, str(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, dim: int, settings: IndexSettings, trained_size: int) -> FaissIndex:
        index = faiss.read_index(str(path))
        if index.d != dim:
            raise ValueError(f"{path}: index dimension {index.d}, embedder dimension {dim}")
        # read_index returns the concrete class already. (Downcasting it again would hand back a
        # wrapper that does not own the index, whose memory goes with the original wrapper.)
        if isinstance(index, faiss.IndexIVF):
            index.set_direct_map_type(faiss.DirectMap.Hashtable)
        return cls(dim, settings, index, trained_size)
