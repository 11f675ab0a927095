"""SQLite (WAL) storage: the source of truth of a store. SQL lives here and nowhere else."""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from kme_store.errors import NotFoundError, ReadOnlyError, StoreError
from kme_store.facts import Fact, FactStatus
from kme_store.storage.schema import SCHEMA, SCHEMA_VERSION

_FACT_COLUMNS = ("id, subject, relation, object, wikidata_id, object_aliases, template, source, batch_id, "
                 "status, created_at, updated_at, supersedes")
# SQLite refuses more than 32766 bound parameters in one statement; stay well below.
_CHUNK = 900


@dataclass(frozen=True, slots=True)
class FactRow:
    """The ids of a fact that derived views (graph, index) need."""

    id: int
    subject_id: int
    relation_id: int
    object_id: int
    status: str


@dataclass(frozen=True, slots=True)
class RelationRow:
    id: int
    key: str
    label: str
    template: str | None
    multi_valued: bool


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterator[Sequence]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _fact_from_row(row: sqlite3.Row | tuple) -> Fact:
    (fid, subject, relation, obj, wikidata_id, aliases, template, source, batch_id, status,
     created_at, updated_at, supersedes) = row
    return Fact(subject=subject, relation=relation, object=obj, relation_id=wikidata_id,
                object_aliases=tuple(json.loads(aliases)), template=template, source=source, id=fid,
                batch_id=batch_id, status=FactStatus(status), created_at=created_at,
                updated_at=updated_at, supersedes=supersedes)


def vec_to_blob(vec: np.ndarray) -> bytes:
    # float16 halves the store's size; cosine scores move by < 1e-3, far below any threshold.
    return np.asarray(vec, dtype=np.float16).tobytes()


def blob_to_vec(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)


class SQLiteStorage:
    """Facts, entities, relations, batches and import bookkeeping in one SQLite file.

    Writers group their statements in `transaction()`; one transaction is one change number
    (`seq`). The class holds no cache: what it returns is what is on disk.
    """

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        uri = f"file:{path}?mode={'ro' if read_only else 'rwc'}"
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is exactly what
        # transaction() encloses; check_same_thread=False because the server calls from a pool,
        # and the store serializes writers with its own lock.
        self._db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 5000")
        if not read_only:
            self._db.execute("PRAGMA journal_mode = WAL")
            # FULL: a committed transaction survives a power cut, not only a killed process.
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.executescript(SCHEMA)
            self._check_version()
        self._seq: int | None = None

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('seq', '0')")
        elif int(row[0]) != SCHEMA_VERSION:
            raise StoreError(f"{self.path}: schema version {row[0]}, this kme_store reads {SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    # -- transactions and change numbers -------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[int]:
        """BEGIN IMMEDIATE ... COMMIT, yielding this transaction's change number."""
        if self.read_only:
            raise ReadOnlyError(f"{self.path} is open read-only")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            seq = self.last_seq() + 1
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'seq'", (str(seq),))
            yield seq
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    def last_seq(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()
        return int(row[0]) if row else 0

    def entity_ids(self, norms: Iterable[str]) -> dict[str, int]:
        """Ids of the entities whose canonical name has these norms (missing ones left out)."""
        norms = list(dict.fromkeys(norms))
        found: dict[str, int] = {}
        for part in _chunks(norms):
            q = f"SELECT norm, id FROM entities WHERE norm IN ({','.join('?' * len(part))})"
            found.update(self._db.execute(q, part).fetchall())
        return found

    def create_entities(self, names: dict[str, str]) -> dict[str, int]:
        """Create entities for {norm: display name}; returns {norm: id}. Inside a transaction."""
        for norm, name in names.items():
            self._db.execute("INSERT INTO entities (name, norm) VALUES (?, ?)", (name, norm))
        ids = self.entity_ids(names)
        self._db.executemany("INSERT OR IGNORE INTO entity_names VALUES (?, ?, ?)",
                             [(norm, ids[norm], names[norm]) for norm in names])
        return ids

    def add_entity_names(self, rows: Iterable[tuple[str, int, str]]) -> None:
        """Register (norm, entity id, name) aliases. Inside a transaction."""
        self._db.executemany("INSERT OR IGNORE INTO entity_names VALUES (?, ?, ?)", rows)

    def lookup_names(self, norms: Sequence[str]) -> list[tuple[str, int, str]]:
        """(norm, entity id, name as stored) for every name or alias among `norms`."""
        out: list[tuple[str, int, str]] = []
        for part in _chunks(list(norms)):
            q = f"SELECT norm, entity_id, name FROM entity_names WHERE norm IN ({','.join('?' * len(part))})"
            out.extend(self._db.execute(q, part).fetchall())
        return out

    def entity_names(self, ids: Iterable[int]) -> dict[int, str]:
        ids = list(set(ids))
        out: dict[int, str] = {}
        for part in _chunks(ids):
            q = f"SELECT id, name FROM entities WHERE id IN ({','.join('?' * len(part))})"
            out.update(self._db.execute(q, part).fetchall())
        return out

    # -- relations -----------------------------------------------------------------------------

    def relation_by_key(self, key: str) -> RelationRow | None:
        row = self._db.execute("SELECT id, key, label, template, multi_valued FROM relations WHERE key = ?",
                               (key,)).fetchone()
        return RelationRow(row[0], row[1], row[2], row[3], bool(row[4])) if row else None

    def create_relation(self, key: str, label: str, wikidata_id: str | None, template: str | None,
                        multi_valued: bool, vec: np.ndarray) -> RelationRow:
        cur = self._db.execute(
            "INSERT INTO relations (key, label, wikidata_id, template, multi_valued, vec) VALUES (?, ?, ?, ?, ?, ?)",
            (key, label, wikidata_id, template, int(multi_valued), vec_to_blob(vec)))
        return RelationRow(int(cur.lastrowid), key, label, template, multi_valued)

    def set_relation_template(self, relation_id: int, template: str) -> None:
        self._db.execute("UPDATE relations SET template = ? WHERE id = ? AND template IS NULL", (template, relation_id))

    def set_multi_valued(self, key: str, multi_valued: bool) -> None:
        self._db.execute("UPDATE relations SET multi_valued = ? WHERE key = ?", (int(multi_valued), key))

    def relation_rows(self, skip: int = 0) -> list[RelationRow]:
        """The relations, in the order created and without their embeddings, after the first `skip`."""
        rows = self._db.execute("SELECT id, key, label, template, multi_valued FROM relations ORDER BY id "
                                "LIMIT -1 OFFSET ?", (skip,))
        return [RelationRow(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    def relations(self) -> list[tuple[RelationRow, np.ndarray]]:
        rows = self._db.execute("SELECT id, key, label, template, multi_valued, vec FROM relations ORDER BY id")
        return [(RelationRow(r[0], r[1], r[2], r[3], bool(r[4])), blob_to_vec(r[5])) for r in rows]

    # -- batches -------------------------------------------------------------------------------

    def ensure_batch(self, batch_id: str, source: str | None, digest: str | None) -> None:
        self._db.execute("INSERT OR IGNORE INTO batches (id, source, digest, created_at) VALUES (?, ?, ?, ?)",
                         (batch_id, source, digest, time.time()))

    def batch_exists(self, batch_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM batches WHERE id = ?", (batch_id,)).fetchone() is not None

    def batch_fact_ids(self, batch_id: str) -> list[int]:
        """Ids of the batch's facts that still take part in history, newest first."""
        rows = self._db.execute(
            "SELECT id FROM facts WHERE batch_id = ? AND status IN ('current', 'superseded') ORDER BY id DESC",
            (batch_id,))
        return [r[0] for r in rows]

    # -- facts ---------------------------------------------------------------------------------

    def current_for(self, subject_id: int, relation_id: int) -> list[tuple[int, int]]:
        """(fact id, object id) of the current facts of a (subject, relation)."""
        return self._db.execute(
            "SELECT id, object_id FROM facts WHERE subject_id = ? AND relation_id = ? AND status = 'current'",
            (subject_id, relation_id)).fetchall()

    def insert_fact(self, fact: Fact, subject_id: int, relation_id: int, object_id: int, batch_id: str,
                    supersedes: int | None, seq: int) -> int:
        now = time.time()
        cur = self._db.execute(
            "INSERT INTO facts (subject_id, relation_id, object_id, subject, relation, object, wikidata_id, "
            "object_aliases, template, source, batch_id, status, supersedes, created_at, updated_at, seq) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'current', ?, ?, ?, ?)",
            (subject_id, relation_id, object_id, fact.subject, fact.relation, fact.object, fact.relation_id,
             json.dumps(list(fact.object_aliases), ensure_ascii=False), fact.template, fact.source, batch_id,
             supersedes, now, now, seq))
        return int(cur.lastrowid)

    def set_status(self, fact_id: int, status: FactStatus, seq: int) -> None:
        self._db.execute("UPDATE facts SET status = ?, updated_at = ?, seq = ? WHERE id = ?",
                         (status.value, time.time(), seq, fact_id))

    def set_supersedes(self, fact_id: int, supersedes: int | None, seq: int) -> None:
        self._db.execute("UPDATE facts SET supersedes = ?, seq = ? WHERE id = ?", (supersedes, seq, fact_id))

    def superseded_by(self, fact_id: int) -> int | None:
        """The live fact that replaced `fact_id`, if any."""
        row = self._db.execute(
            "SELECT id FROM facts WHERE supersedes = ? AND status IN ('current', 'superseded')", (fact_id,)).fetchone()
        return row[0] if row else None

    def fact_row(self, fact_id: int) -> FactRow:
        row = self._db.execute("SELECT id, subject_id, relation_id, object_id, status FROM facts WHERE id = ?",
                               (fact_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no fact with id {fact_id}")
        return FactRow(*row)

    def supersedes_of(self, fact_id: int) -> int | None:
        row = self._db.execute("SELECT supersedes FROM facts WHERE id = ?", (fact_id,)).fetchone()
        return row[0] if row else None

    def get_facts(self, ids: Sequence[int]) -> dict[int, Fact]:
        out: dict[int, Fact] = {}
        for part in _chunks(list(ids)):
            q = f"SELECT {_FACT_COLUMNS} FROM facts WHERE id IN ({','.join('?' * len(part))})"
            out.update((r[0], _fact_from_row(r)) for r in self._db.execute(q, part))
        return out

    def fact_rows(self, ids: Sequence[int]) -> list[FactRow]:
        out: list[FactRow] = []
        for part in _chunks(list(ids)):
            q = f"SELECT id, subject_id, relation_id, object_id, status FROM facts WHERE id IN ({','.join('?' * len(part))})"
            out.extend(FactRow(*r) for r in self._db.execute(q, part))
        return out

    def list_facts(self, subject_norm: str | None, relation_key: str | None, batch_id: str | None,
                   status: FactStatus | None, offset: int, limit: int) -> list[Fact]:
        where, args = [], []
        if subject_norm is not None:
            where.append("subject_id IN (SELECT entity_id FROM entity_names WHERE norm = ?)")
            args.append(subject_norm)
        if relation_key is not None:
            where.append("relation_id IN (SELECT id FROM relations WHERE key = ? OR lower(label) = ?)")
            args += [relation_key, relation_key]
        if batch_id is not None:
            where.append("batch_id = ?")
            args.append(batch_id)
        if status is not None:
            where.append("status = ?")
            args.append(status.value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        q = f"SELECT {_FACT_COLUMNS} FROM facts {clause} ORDER BY id LIMIT ? OFFSET ?"
        return [_fact_from_row(r) for r in self._db.execute(q, (*args, limit, offset))]

    def changed_since(self, seq: int) -> Iterator[FactRow]:
        q = "SELECT id, subject_id, relation_id, object_id, status FROM facts WHERE seq > ? ORDER BY seq, id"
        for row in self._db.execute(q, (seq,)):
            yield FactRow(*row)

    def current_rows(self) -> Iterator[FactRow]:
        for row in self._db.execute(
                "SELECT id, subject_id, relation_id, object_id, status FROM facts WHERE status = 'current'"):
            yield FactRow(*row)

    def count(self, status: FactStatus | None = FactStatus.CURRENT) -> int:
        if status is None:
            return self._db.execute("SELECT count(*) FROM facts").fetchone()[0]
        return self._db.execute("SELECT count(*) FROM facts WHERE status = ?", (status.value,)).fetchone()[0]

    def counts(self) -> dict[str, int]:
        out = {"entities": self._db.execute("SELECT count(*) FROM entities").fetchone()[0],
               "relations": self._db.execute("SELECT count(*) FROM relations").fetchone()[0],
               "batches": self._db.execute("SELECT count(*) FROM batches").fetchone()[0]}
        out.update(self._db.execute("SELECT status, count(*) FROM facts GROUP BY status").fetchall())
        return out

    # -- import bookkeeping --------------------------------------------------------------------

    def imported_lines(self, digest: str, first: int, last: int) -> set[int]:
        """Lines in [first, last] of the file with this digest that are already stored.

        Asked per batch of lines, so that resuming a large import holds one batch in memory.
        """
        q = "SELECT line FROM import_lines WHERE digest = ? AND line BETWEEN ? AND ?"
        return {r[0] for r in self._db.execute(q, (digest, first, last))}

    def record_lines(self, digest: str, rows: Iterable[tuple[int, int]]) -> None:
        self._db.executemany("INSERT OR IGNORE INTO import_lines VALUES (?, ?, ?)",
                             [(digest, line, fid) for line, fid in rows])
