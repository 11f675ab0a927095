"""kme_store: a durable store of fact triples with a knowledge graph and a vector index."""
from __future__ import annotations

from kme_store.errors import (FieldError, ImportAborted, NotFoundError, ReadOnlyError, StoreError,
                              StoreLockedError)
from kme_store.facts import EditRequest, Fact, FactStatus, Hit, ImportSummary, LineError, StoredRelation
from kme_store.settings import IndexSettings, RetrievalSettings, StoreSettings

__all__ = [
    "EditRequest", "Fact", "FactStatus", "FieldError", "Hit", "ImportAborted", "ImportSummary",
    "IndexSettings", "LineError", "NotFoundError", "ReadOnlyError", "RetrievalSettings", "StoreError",
    "StoreLockedError", "StoreSettings", "StoredRelation",
]
