"""FAISS on a GPU: the CPU index stays the master copy; searches go to a GPU clone of it."""
from __future__ import annotations

import logging
from pathlib import Path

import faiss
import numpy as np

from kme_store.index.faiss_cpu import FaissIndex

log = logging.getLogger(__name__)


def gpu_available() -> bool:
    """True when this FAISS build has GPU support and sees at least one CUDA device."""
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


class GpuFaissIndex(FaissIndex):
    """Same ids, same results (within float tolerance) as FaissIndex, searched on the GPU.

    GPU IVF indexes cannot remove ids, so every write goes to the CPU index and marks the GPU
    clone stale; the next search re-clones it. Writes come in batches, searches in streams, so
    the clone is rebuilt once per batch, not once per fact.
    """

    def __init__(self, *args, device: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._res = faiss.StandardGpuResources()
        self._device = device
        self._gpu: faiss.Index | None = None

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "gpu-" + super().kind

    def upsert(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        super().upsert(ids, vecs)
        self._gpu = None

    def remove(self, ids: np.ndarray) -> int:
        removed = super().remove(ids)
        if removed:
            self._gpu = None
        return removed

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self) == 0:
            return super().search(queries, k)
        if self._gpu is None:
            self._gpu = faiss.index_cpu_to_gpu(self._res, self._device, self.raw)
        if isinstance(self.raw, faiss.IndexIVF):
            faiss.GpuParameterSpace().set_index_parameter(self._gpu, "nprobe", self.settings.nprobe)
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        return self._gpu.search(queries, k)

    @classmethod
    def load(cls, path: Path, dim: int, settings, trained_size: int) -> GpuFaissIndex:  # type: ignore[override]
        cpu = FaissIndex.load(path, dim, settings, trained_size)
        return cls(dim, settings, cpu.raw, trained_size)
