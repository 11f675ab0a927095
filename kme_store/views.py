"""The graph and the vector index: derived from storage, snapshotted, replayed and repaired."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from kme_store.embedder import Embedder
from kme_store.facts import FactStatus
from kme_store.graph import KnowledgeGraph
from kme_store.index import VectorIndex, create_index, load_index
from kme_store.settings import StoreSettings
from kme_store.storage import FactRow, SQLiteStorage
from kme_store.vectors import RelationVectors, fact_vectors, vector_dim

log = logging.getLogger(__name__)

GRAPH_FILE = "graph.pickle"
INDEX_FILE = "index.faiss"
SNAPSHOT_FILE = "snapshot.json"
# Rows applied to graph and index at a time while replaying: bounds memory on a full rebuild.
_REPLAY_BATCH = 10_000


class DerivedViews:
    """Keeps the graph and the index equal to what storage says is current.

    On open they are loaded from their last snapshot and the changes committed after it are
    replayed (replay is idempotent, so an old snapshot is merely slower); if they still disagree
    with storage, they are rebuilt from it.
    """

    def __init__(self, path: Path, storage: SQLiteStorage, embedder: Embedder, relations: RelationVectors,
                 settings: StoreSettings, read_only: bool) -> None:
        self._path = path
        self._storage = storage
        self._relations = relations
        self._settings = settings
        self._read_only = read_only
        self._dim = vector_dim(embedder.dim)
        self.graph, self.index = self._open()

    def _embedding_id(self) -> str:
        return self._settings.embedding_model or "all-MiniLM-L6-v2"

    def _open(self) -> tuple[KnowledgeGraph, VectorIndex]:
        graph, index, seq = self._load_snapshot()
        if graph is None or index is None:
            graph, index, seq = KnowledgeGraph(), create_index(self._dim, self._settings.index), 0
        self._replay(graph, index, self._storage.changed_since(seq))
        current = self._storage.count(FactStatus.CURRENT)
        if len(graph) != current or len(index) != current:
            log.warning("%s: graph (%d edges) or index (%d) disagrees with storage (%d current facts); repairing",
                        self._path, len(graph), len(index), current)
            graph, index = KnowledgeGraph(), create_index(self._dim, self._settings.index)
            self._replay(graph, index, self._storage.current_rows())
        return graph, index

    def _load_snapshot(self) -> tuple[KnowledgeGraph | None, VectorIndex | None, int]:
        snap_path = self._path / SNAPSHOT_FILE
        if not snap_path.exists():
            return None, None, 0
        try:
            meta = json.loads(snap_path.read_text())
            if meta.get("embedding_model") != self._embedding_id() or meta.get("dim") != self._dim:
                log.warning("%s: snapshot made with another embedding model; rebuilding", self._path)
                return None, None, 0
            graph = KnowledgeGraph.load(self._path / GRAPH_FILE)
            index = load_index(self._path / INDEX_FILE, self._dim, self._settings.index,
                               int(meta.get("trained_size", 0)))
            return graph, index, int(meta["seq"])
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            log.warning("%s: unreadable snapshot (%s); rebuilding graph and index", self._path, exc)
            return None, None, 0

    def _replay(self, graph: KnowledgeGraph, index: VectorIndex, rows) -> None:
        batch: list[FactRow] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= _REPLAY_BATCH:
                self._apply_to(batch, graph, index)
                batch = []
        self._apply_to(batch, graph, index)

    def apply(self, rows: Sequence[FactRow]) -> None:
        """Make graph and index reflect the status of these facts."""
        self._apply_to(rows, self.graph, self.index)

    def _apply_to(self, rows: Sequence[FactRow], graph: KnowledgeGraph, index: VectorIndex) -> None:
        if not rows:
            return
        graph.apply(rows)
        index.remove(np.array([r.id for r in rows if r.status != "current"], dtype=np.int64))
        live = [r for r in rows if r.status == "current"]
        if not live:
            return
        names = self._storage.entity_names([r.subject_id for r in live])
        index.upsert(np.array([r.id for r in live], np.int64), fact_vectors(live, names, self._relations))

    def snapshot(self) -> None:
        """Write graph and index to disk, stamped with the change number they reflect."""
        seq = self._storage.last_seq()
        self.graph.save(self._path / GRAPH_FILE)
        self.index.save(self._path / INDEX_FILE)
        meta = {"seq": seq, "dim": self._dim, "embedding_model": self._embedding_id(),
                "trained_size": getattr(self.index, "_trained_size", 0)}
        # Written last: a crash before this line leaves the previous stamp, and replaying from an
        # older change number is harmless.
        tmp = self._path / (SNAPSHOT_FILE + ".tmp")
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, self._path / SNAPSHOT_FILE)

    def check(self) -> list[str]:
        """Disagreements between storage, graph and index (empty when consistent)."""
        problems = []
        current = {r.id for r in self._storage.current_rows()}
        indexed = {int(i) for i in self.index.ids()}
        edges = {d["fact"] for _, _, d in self.graph.nx.edges(data=True)}
        if indexed != current:
            problems.append(f"index holds {len(indexed - current)} stale and misses {len(current - indexed)} facts")
        if edges != current:
            problems.append(f"graph holds {len(edges - current)} stale and misses {len(current - edges)} facts")
        return problems
