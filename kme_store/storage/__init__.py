"""Storage backends; SQLite is the source of truth of every store."""
from __future__ import annotations

from kme_store.storage.sqlite import FactRow, RelationRow, SQLiteStorage

__all__ = ["FactRow", "RelationRow", "SQLiteStorage"]
