"""Streaming bulk-import parsers: JSON Lines, CSV/TSV, JSON arrays, MQuAKE, CounterFact, zsRE."""
from __future__ import annotations

from kme_store.importers.base import Importer, Record
from kme_store.importers.digest import file_digest
from kme_store.importers.factory import FORMATS, create, detect_format, open_records

__all__ = ["FORMATS", "Importer", "Record", "create", "detect_format", "file_digest", "open_records"]
