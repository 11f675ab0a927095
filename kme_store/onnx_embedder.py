"""A sentence-transformers model run by ONNX Runtime: the same vectors, about twice as fast on CPU.

The model (a Transformer module followed by Pooling and, optionally, Normalize: the shape of
all-MiniLM-L6-v2 and most sentence-transformers models) is exported to ONNX once, from the local
model directory, and cached. Pooling is done here as sentence-transformers does it. A model of
another shape is refused (UnsupportedModel), and the caller falls back to sentence-transformers.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

_EXPORT_VERSION = 1  # bump when the export changes, so that old caches are not reused


class UnsupportedModel(Exception):
    """The model is not Transformer + Pooling (+ Normalize); use sentence-transformers for it."""


def _read_pipeline(model_dir: Path) -> tuple[str, int]:
    """(pooling mode, max sequence length) of a sentence-transformers model directory."""
    modules = json.loads((model_dir / "modules.json").read_text())
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        raise UnsupportedModel(f"{model_dir}: modules {kinds}")
    pooling = json.loads((model_dir / modules[1]["path"] / "config.json").read_text())
    modes = [m for m in ("cls_token", "mean_tokens", "max_tokens") if pooling.get(f"pooling_mode_{m}")]
    if len(modes) != 1 or pooling.get("pooling_mode_mean_sqrt_len_tokens"):
        raise UnsupportedModel(f"{model_dir}: pooling {pooling}")
    config = model_dir / "sentence_bert_config.json"
    max_len = json.loads(config.read_text()).get("max_seq_length", 256) if config.exists() else 256
    return modes[0], int(max_len)


def _export(model_dir: Path, out: Path) -> None:
    """Export the Transformer module's last hidden state to ONNX with dynamic batch and length."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()

    class Hidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    sample = tokenizer(["an example", "a longer example sentence"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    if "token_type_ids" not in sample:
        sample["token_type_ids"] = torch.zeros_like(sample["input_ids"])
    tmp = out.with_suffix(".tmp")
    # The tracer warns that shape checks in the attention code become constants: true of a
    # bidirectional encoder given an attention mask, which is all this export is used for (the
    # parity test compares mixed-length batches with sentence-transformers).
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Hidden(model), tuple(sample[n] for n in names), str(tmp), input_names=names,
                          output_names=["hidden"], opset_version=17, dynamo=False,
                          dynamic_axes={**{n: {0: "batch", 1: "seq"} for n in names}, "hidden": {0: "batch", 1: "seq"}})
    os.replace(tmp, out)


def _cache_file(model_dir: Path, cache_dir: Path) -> Path:
    # Keyed by the model's weights and config, so another model or an update gets its own export.
    digest = hashlib.sha256(str(_EXPORT_VERSION).encode())
    for name in sorted(p.name for p in model_dir.iterdir() if p.suffix in (".json", ".safetensors", ".bin")):
        stat = (model_dir / name).stat()
        digest.update(f"{name}:{stat.st_size}".encode())
    digest.update((model_dir / "config.json").read_bytes())
    return cache_dir / f"{model_dir.name}-{digest.hexdigest()[:16]}.onnx"


class OnnxEmbedder:
    """Encodes texts like SentenceTransformer(model_dir).encode(normalize_embeddings=True)."""

    def __init__(self, model_dir: str | os.PathLike[str], cache_dir: Path, batch_size: int = 256,
                 threads: int | None = None) -> None:
        self._dir = Path(model_dir)
        if not (self._dir / "modules.json").exists():
            raise UnsupportedModel(f"{self._dir} is not a local sentence-transformers directory")
        self._pooling, self._max_len = _read_pipeline(self._dir)
        self._cache_dir = cache_dir
        self._batch_size = batch_size
        self._threads = threads
        self._lock = threading.Lock()
        self._session = None
        self._tokenizer = None
        self._dim: int | None = None

    def _load(self):
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                path = _cache_file(self._dir, self._cache_dir)
                if not path.exists():
                    log.info("exporting %s to ONNX (once): %s", self._dir.name, path)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    _export(self._dir, path)
                options = ort.SessionOptions()
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                if self._threads:
                    options.intra_op_num_threads = self._threads
                # By default ORT's threads busy-wait after each run; in a server that runs a
                # language model right after embedding the query they compete with its prefill
                # for the same cores (measured on two cores: generate 3% faster without).
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                self._tokenizer = self._load_tokenizer()
                self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return self._session

    def _load_tokenizer(self):
        """The fast tokenizer itself (importing transformers for it costs seconds at every open)."""
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self._dir / "tokenizer.json"))
        # The file may fix padding at a length; sentence-transformers pads to the batch's longest.
        pad = tokenizer.padding or {}
        tokenizer.enable_padding(pad_id=pad.get("pad_id", 0), pad_type_id=pad.get("pad_type_id", 0),
                                 pad_token=pad.get("pad_token", "[PAD]"))
        tokenizer.enable_truncation(max_length=self._max_len)
        return tokenizer

    @property
    def dim(self) -> int:
        """Read from the model's config: knowing it must not cost loading the model."""
        if self._dim is None:
            self._dim = int(json.loads((self._dir / "config.json").read_text())["hidden_size"])
        return self._dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        session = self._load()
        out = np.zeros((len(texts), self.dim), np.float32)
        # Sorted by length so that each batch pads little, as sentence-transformers does.
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), self._batch_size):
            idx = order[start:start + self._batch_size]
            encodings = self._tokenizer.encode_batch([texts[i] for i in idx])
            mask = np.array([e.attention_mask for e in encodings], np.int64)
            feed = {"input_ids": np.array([e.ids for e in encodings], np.int64), "attention_mask": mask,
                    "token_type_ids": np.array([e.type_ids for e in encodings], np.int64)}
            hidden = session.run(None, feed)[0]
            out[idx] = self._pool(hidden, mask)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        m = mask[..., None].astype(np.float32)
        if self._pooling == "cls_token":
            return hidden[:, 0]
        if self._pooling == "max_tokens":
            return np.where(m > 0, hidden, -1e9).max(axis=1)
        return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
