"""Shared fixtures: stores on temporary directories with the fast test embedder."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# The tests import their doubles as `fakes`; subprocesses started by tests get the same path.
sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from fakes import TrigramEmbedder  # noqa: E402

from kme_store import StoreSettings  # noqa: E402
from kme_store.store import KnowledgeStore  # noqa: E402


@pytest.fixture
def embedder() -> TrigramEmbedder:
    return TrigramEmbedder()


@pytest.fixture
def store(tmp_path: Path, embedder: TrigramEmbedder):
    with KnowledgeStore(tmp_path / "store", StoreSettings(), embedder=embedder) as s:
        yield s
