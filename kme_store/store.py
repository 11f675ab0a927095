"""KnowledgeStore: the one class users touch. It keeps storage, graph and index consistent."""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence


from kme_store.embedder import Embedder, create_embedder
from kme_store.errors import FieldError, ImportAborted, NotFoundError
from kme_store.facts import (EditRequest, Fact, FactStatus, Hit, ImportSummary, LineError, Limits, StoredRelation,
                             coerce_fact, normalize_name, relation_key_of)
from kme_store.history import add_fact, undo_fact
from kme_store.lock import WriterLock
from kme_store.retrieval import Retriever
from kme_store.settings import StoreSettings
from kme_store.storage import FactRow, RelationRow, SQLiteStorage
from kme_store.vectors import RelationVectors, relation_phrase
from kme_store.views import DerivedViews

log = logging.getLogger(__name__)

FactInput = Fact | EditRequest | Mapping[str, Any]
Progress = Callable[[int], None]

_DB = "facts.sqlite3"


@dataclass(frozen=True, slots=True)
class AddResult:
    """Ids of the facts an add() stored or found already stored, in input order, and the batch."""

    ids: list[int]
    batch_id: str
    created: int


@dataclass(frozen=True, slots=True)
class StoreStats:
    facts: int  # current facts
    total_facts: int  # every fact ever stored, history included
    entities: int
    relations: int
    batches: int
    by_status: dict[str, int] = field(default_factory=dict)
    index_kind: str = "flat"
    index_size: int = 0
    graph_edges: int = 0


def _new_batch_id(prefix: str = "batch") -> str:
    return f"{prefix}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


class KnowledgeStore:
    """A durable store of facts with a knowledge graph and a vector index over them.

    SQLite is the source of truth; the graph and the index are derived from it, saved on close,
    and on open brought up to date by replaying what changed since they were saved (or rebuilt
    when they disagree with it). One process at a time may open a store for writing; every
    method is safe to call from several threads.
    """

    def __init__(self, path: str | os.PathLike[str], settings: StoreSettings | None = None, *,
                 read_only: bool = False, embedder: Embedder | None = None) -> None:
        self.path = Path(path)
        self.settings = settings or StoreSettings()
        self.read_only = read_only
        self._limits = Limits(max_field_chars=self.settings.max_field_chars)
        self._lock = threading.RLock()
        self._writer: WriterLock | None = None
        if read_only:
            if not (self.path / _DB).exists():
                raise NotFoundError(f"no store at {self.path}")
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            self._writer = WriterLock(self.path)
            self._writer.acquire()
        try:
            self._storage = SQLiteStorage(self.path / _DB, read_only=read_only)
            self._embedder = embedder or create_embedder(self.settings)
            self._apply_relation_settings()
            self._relations = RelationVectors(self._embedder.dim)
            for row, vec in self._storage.relations():
                self._relations.set(row.id, vec)
            self._views = DerivedViews(self.path, self._storage, self._embedder, self._relations, self.settings,
                                       read_only)
            self._graph, self._index = self._views.graph, self._views.index
            self._retriever = Retriever(self._storage, self._graph, self._index, self._embedder, self._relations,
                                        self.settings.retrieval)
        except BaseException:
            if self._writer:
                self._writer.release()
            raise
        self._closed = False

    @property
    def embedder(self) -> Embedder:
        """The store's sentence embedder, for callers that should not load a second copy."""
        return self._embedder

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> KnowledgeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        with self._lock:
            return self._storage.count(FactStatus.CURRENT)

    def close(self) -> None:
        """Save the graph and index for a fast next open, and release the store."""
        with self._lock:
            if getattr(self, "_closed", True):
                return
            try:
                if not self.read_only:
                    self.snapshot()
            finally:
                self._storage.close()
                if self._writer:
                    self._writer.release()
                self._closed = True

    def snapshot(self) -> None:
        """Write the graph and the index to disk, so that the next open replays nothing."""
        with self._lock:
            self._views.snapshot()

    def _apply(self, rows: Sequence[FactRow]) -> None:
        self._views.apply(rows)

    def _apply_relation_settings(self) -> None:
        if self.read_only:
            return
        with self._storage.transaction():
            for key in self.settings.multi_valued_relations:
                self._storage.set_multi_valued(relation_key_of(key), True)


    # -- writing -------------------------------------------------------------------------------

    def add(self, items: Iterable[FactInput], batch_id: str | None = None, source: str | None = None) -> AddResult:
        """Validate and store facts or edit requests, all or none.

        Raises FieldError naming the item and field (`items[3].subject: is empty`) before
        anything is stored.
        """
        facts: list[Fact] = []
        for i, item in enumerate(items):
            try:
                fact = coerce_fact(item, self._limits)
            except FieldError as exc:
                raise FieldError(f"items[{i}]" + (f".{exc.field}" if exc.field else ""), exc.reason) from None
            facts.append(fact if fact.source or not source else fact.with_store_fields(source=source))
        batch_id = batch_id or _new_batch_id()
        with self._lock:
            ids, created = self._write(facts, batch_id, source)
        return AddResult(ids, batch_id, created)

    def _write(self, facts: Sequence[Fact], batch_id: str, source: str | None, digest: str | None = None,
               lines: Sequence[int] | None = None) -> tuple[list[int], int]:
        """Store facts in one transaction, then bring graph and index up to date."""
        if not facts:
            return [], 0
        with self._storage.transaction() as seq:
            self._storage.ensure_batch(batch_id, source, digest)
            entities = self._resolve_entities(facts)
            relations = self._resolve_relations(facts)
            ids, changed, created = [], [], 0
            for fact in facts:
                if source and not fact.source:
                    fact = fact.with_store_fields(source=source)
                outcome = add_fact(self._storage, fact, entities[normalize_name(fact.subject)],
                                   relations[fact.relation_key], entities[normalize_name(fact.object)], batch_id, seq)
                ids.append(outcome.fact_id)
                changed.extend(outcome.changed)
                created += outcome.created
            if digest is not None and lines is not None:
                self._storage.record_lines(digest, zip(lines, ids))
        self._apply(self._storage.fact_rows(list(dict.fromkeys(changed))))
        return ids, created

    def _resolve_entities(self, facts: Sequence[Fact]) -> dict[str, int]:
        names: dict[str, str] = {}
        for f in facts:
            names.setdefault(normalize_name(f.subject), f.subject)
            names.setdefault(normalize_name(f.object), f.object)
        ids = self._storage.entity_ids(names)
        missing = {n: names[n] for n in names if n not in ids}
        if missing:
            ids.update(self._storage.create_entities(missing))
        aliases = [(normalize_name(a), ids[normalize_name(f.object)], a) for f in facts for a in f.object_aliases]
        if aliases:
            self._storage.add_entity_names(aliases)
        return ids

    def _resolve_relations(self, facts: Sequence[Fact]) -> dict[str, RelationRow]:
        """Rows of the facts' relations, creating (and embedding, in one call) the new ones."""
        rows: dict[str, RelationRow] = {}
        new: dict[str, Fact] = {}
        for fact in facts:
            key = fact.relation_key
            if key in rows or key in new:
                continue
            row = self._storage.relation_by_key(key)
            if row is None:
                new[key] = fact
                continue
            if fact.template and not row.template:
                self._storage.set_relation_template(row.id, fact.template)
            rows[key] = row
        if new:
            multi = {relation_key_of(r) for r in self.settings.multi_valued_relations}
            vecs = self._embedder.encode([relation_phrase(f.relation, f.template) for f in new.values()])
            for (key, fact), vec in zip(new.items(), vecs):
                rows[key] = self._storage.create_relation(key, fact.relation, fact.relation_id, fact.template,
                                                          key in multi, vec)
                self._relations.set(rows[key].id, vec)
        return rows

    def declare_multi_valued(self, relation: str, multi_valued: bool = True) -> None:
        """Let a relation (Wikidata id or label) keep several current objects per subject."""
        with self._lock, self._storage.transaction():
            self._storage.set_multi_valued(relation_key_of(relation), multi_valued)

    def import_file(self, path: str | os.PathLike[str], format: str | None = None, *, strict: bool = False,
                    world: bool = False, progress: Progress | None = None) -> ImportSummary:
        """Import a JSONL, CSV/TSV, MQuAKE, CounterFact or zsRE file, streaming.

        Bad lines are reported (line number, field, reason) and skipped; with `strict=True` any bad
        line refuses the whole file (ImportAborted) and nothing is stored. Importing the same file
        again stores nothing new: lines already stored, also by an import cut short by a crash,
        are recognized by the file's digest. `world=True` also imports MQuAKE's original chains.
        """
        from kme_store.importers import file_digest, open_records

        from kme_store.importers import detect_format

        path = Path(path)
        format = format or detect_format(path)
        # The same bytes read another way (another format, MQuAKE with its world facts) are
        # another import: they yield other records.
        digest = f"{file_digest(path)}:{format}" + (":world" if world else "")
        batch_id = f"import-{hashlib.sha256(digest.encode()).hexdigest()[:16]}"

        def records() -> Iterator[tuple[int, Fact | LineError]]:
            return open_records(path, format, limits=self._limits, world=world)

        if strict:
            errors = [item for _, item in records() if isinstance(item, LineError)]
            if errors:
                raise ImportAborted(errors)
        return self.import_records(records(), batch_id=batch_id, digest=digest, source=path.name, progress=progress)

    def import_records(self, records: Iterable[tuple[int, Fact | LineError]], *, batch_id: str | None = None,
                       digest: str | None = None, source: str | None = None,
                       progress: Progress | None = None) -> ImportSummary:
        """Store (line, fact or error) records in transactions of `import_batch_size` facts."""
        summary = ImportSummary(batch_id=batch_id or _new_batch_id("import"))
        size = self.settings.import_batch_size
        pending: list[tuple[int, Fact]] = []
        seen = 0

        def flush() -> None:
            if not pending:
                return
            with self._lock:
                done = (self._storage.imported_lines(digest, pending[0][0], pending[-1][0])
                        if digest is not None else set())
                todo = [(pos, fact) for pos, fact in pending if pos not in done]
                summary.unchanged += len(pending) - len(todo)
                _, created = self._write([f for _, f in todo], summary.batch_id, source, digest,
                                         [pos for pos, _ in todo])
            summary.imported += created
            summary.unchanged += len(todo) - created
            pending.clear()

        # Bookkeeping is by the record's position in the stream, not by its line: one line may
        # hold several facts (an MQuAKE case has up to four edits).
        for position, (_line, item) in enumerate(records):
            seen += 1
            if isinstance(item, LineError):
                summary.skipped += 1
                summary.errors.append(item)
            else:
                pending.append((position, item))
                if len(pending) >= size:
                    flush()
                    if progress:
                        progress(seen)
        flush()
        if progress:
            progress(seen)
        if summary.imported and not self.read_only:
            with self._lock:
                self.snapshot()
        return summary

    def delete(self, ids: Iterable[int]) -> int:
        """Delete facts; each gives way to the fact it had superseded. Returns how many were deleted.

        Raises NotFoundError for an id the store never held (nothing is deleted then).
        """
        return self._undo(list(ids), FactStatus.DELETED)

    def rollback(self, edit_or_batch: int | str) -> int:
        """Undo one edit (a fact id) or a whole batch (a batch id): the previous state returns exactly."""
        if isinstance(edit_or_batch, int) or str(edit_or_batch).isdigit():
            return self._undo([int(edit_or_batch)], FactStatus.ROLLED_BACK)
        with self._lock:
            if not self._storage.batch_exists(str(edit_or_batch)):
                raise NotFoundError(f"no batch with id {edit_or_batch!r}")
            ids = self._storage.batch_fact_ids(str(edit_or_batch))
        return self._undo(ids, FactStatus.ROLLED_BACK)

    def _undo(self, ids: list[int], status: FactStatus) -> int:
        with self._lock:
            for fid in ids:
                self._storage.fact_row(fid)  # NotFoundError before anything changes
            changed: list[int] = []
            undone = 0
            with self._storage.transaction() as seq:
                for fid in ids:
                    step = undo_fact(self._storage, fid, status, seq)
                    undone += bool(step)
                    changed.extend(step)
            self._apply(self._storage.fact_rows(list(dict.fromkeys(changed))))
            return undone

    # -- reading -------------------------------------------------------------------------------

    def get(self, fact_id: int) -> Fact:
        with self._lock:
            found = self._storage.get_facts([fact_id])
        if fact_id not in found:
            raise NotFoundError(f"no fact with id {fact_id}")
        return found[fact_id]

    def list_facts(self, subject: str | None = None, relation: str | None = None, batch_id: str | None = None,
                   status: FactStatus | None = FactStatus.CURRENT, offset: int = 0, limit: int = 100) -> list[Fact]:
        """Facts in id order, filtered; `status=None` lists history too."""
        with self._lock:
            return self._storage.list_facts(normalize_name(subject) if subject else None,
                                            relation_key_of(relation) if relation else None,
                                            batch_id, status, offset, limit)

    def retrieve(self, query: str, k: int | None = None, threshold: float | None = None) -> list[Hit]:
        """The current facts most relevant to a question or cloze prompt, best first.

        Empty when nothing relevant is stored (no hit reaches the score threshold).
        """
        if not isinstance(query, str) or not query.strip():
            raise FieldError("query", "is empty")
        s = self.settings.retrieval
        with self._lock:
            return self._retriever.retrieve(query, k or s.k, s.score_threshold if threshold is None else threshold)

    def entity_ids(self, name: str) -> list[int]:
        """Ids of the entities with this name or alias (case-insensitive)."""
        with self._lock:
            return sorted({eid for _, eid, _ in self._storage.lookup_names([normalize_name(name)])})

    def facts_about(self, entity: str) -> list[Fact]:
        """Current facts whose subject has this name or alias."""
        with self._lock:
            fids = [fid for eid in self.entity_ids(entity) for _, _, fid in self._graph.out_facts(eid)]
            return self._facts_in_order(fids)

    def lookup(self, entity: str, relation: str) -> list[Fact]:
        """Current facts of (entity, relation): the relation as a Wikidata id or label."""
        with self._lock:
            row = self._storage.relation_by_key(relation_key_of(relation))
            if row is None:
                return []
            fids = [fid for eid in self.entity_ids(entity) for _, _, fid in self._graph.out_facts(eid, row.id)]
            return self._facts_in_order(fids)

    def relations(self, skip: int = 0) -> list[StoredRelation]:
        """Every relation the store has held a fact of, in the order first stored, after the
        first `skip` (relations are never removed, so a reader that has seen n asks for the rest)."""
        if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
            raise FieldError("skip", f"must be a whole number >= 0, got {skip!r}")
        with self._lock:
            return [StoredRelation(r.key, r.label, r.template) for r in self._storage.relation_rows(skip)]

    def neighbours(self, entity: str) -> list[str]:
        """Names of the entities linked to this one by a current fact, either way."""
        with self._lock:
            ids: set[int] = set()
            for eid in self.entity_ids(entity):
                ids |= self._graph.neighbours(eid)
            return sorted(self._storage.entity_names(ids).values())

    def walk(self, entity: str, relations: Sequence[str]) -> list[list[Fact]]:
        """Paths of current facts from the entity along the relations (ids or labels), one per branch."""
        with self._lock:
            rel_ids = []
            for relation in relations:
                row = self._storage.relation_by_key(relation_key_of(relation))
                if row is None:
                    return []
                rel_ids.append(row.id)
            paths = [p for eid in self.entity_ids(entity) for p in self._graph.walk(eid, rel_ids)]
            facts = self._storage.get_facts([fid for p in paths for fid in p])
            return [[facts[fid] for fid in p] for p in paths]

    def _facts_in_order(self, fids: list[int]) -> list[Fact]:
        found = self._storage.get_facts(fids)
        return [found[f] for f in sorted(found)]

    def stats(self) -> StoreStats:
        with self._lock:
            counts = self._storage.counts()
            by_status = {s.value: counts.get(s.value, 0) for s in FactStatus}
            return StoreStats(facts=by_status["current"], total_facts=sum(by_status.values()),
                              entities=counts["entities"], relations=counts["relations"], batches=counts["batches"],
                              by_status=by_status, index_kind=getattr(self._index, "kind", "?"),
                              index_size=len(self._index), graph_edges=len(self._graph))

    def check(self) -> list[str]:
        """Disagreements between storage, graph and index (empty when consistent)."""
        with self._lock:
            return self._views.check()
