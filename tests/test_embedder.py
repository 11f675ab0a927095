"""The ONNX Runtime embedder gives the vectors of sentence-transformers, for the bundled model."""
from __future__ import annotations

import numpy as np
import pytest

from kme_store.embedder import SentenceTransformerEmbedder, create_embedder, default_model_path
from kme_store.onnx_embedder import OnnxEmbedder, UnsupportedModel
from kme_store.settings import StoreSettings

TEXTS = ["Marc Cherry", "What is the country of citizenship of Marc Cherry?", "Helga Wilorheim",
         "The Eiffel Tower is located in the city of", "Ünïcödé tëxt", "x"]


def test_onnx_vectors_equal_sentence_transformers(tmp_path):
    onnx = create_embedder(StoreSettings(embedding_cache_dir=tmp_path))
    assert isinstance(onnx, OnnxEmbedder)
    reference = SentenceTransformerEmbedder().encode(TEXTS)
    vecs = onnx.encode(TEXTS)
    assert vecs.shape == reference.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(vecs, reference, atol=1e-4)
    assert list(tmp_path.glob("onnx/*.onnx")), "the export is cached"
    # A second embedder reuses the cached export and gives the same vectors.
    again = OnnxEmbedder(default_model_path(), tmp_path / "onnx").encode(TEXTS[:2])
    np.testing.assert_allclose(again, vecs[:2], atol=1e-6)


def test_a_directory_that_is_not_a_sentence_transformers_model_is_refused(tmp_path):
    with pytest.raises(UnsupportedModel):
        OnnxEmbedder(tmp_path, tmp_path / "cache")


def test_torch_backend_by_setting():
    assert isinstance(create_embedder(StoreSettings(embedding_backend="torch")), SentenceTransformerEmbedder)
