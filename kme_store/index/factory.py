"""Picks the vector-index backend from settings and the hardware present."""
from __future__ import annotations

import logging
from pathlib import Path

from kme_store.index.base import VectorIndex
from kme_store.index.faiss_cpu import FaissIndex
from kme_store.index.faiss_gpu import GpuFaissIndex, gpu_available
from kme_store.settings import IndexSettings

log = logging.getLogger(__name__)


def _use_gpu(settings: IndexSettings) -> bool:
    if settings.device == "cpu":
        return False
    if settings.device == "gpu" and not gpu_available():
        raise RuntimeError("index device 'gpu' asked for, but FAISS has no GPU support or sees no GPU")
    return gpu_available()


def create_index(dim: int, settings: IndexSettings) -> VectorIndex:
    """An empty index: GPU FAISS when asked for or (device 'auto') when present, else CPU."""
    return GpuFaissIndex(dim, settings) if _use_gpu(settings) else FaissIndex(dim, settings)


def load_index(path: Path, dim: int, settings: IndexSettings, trained_size: int) -> VectorIndex:
    cls = GpuFaissIndex if _use_gpu(settings) else FaissIndex
    return cls.load(path, dim, settings, trained_size)
