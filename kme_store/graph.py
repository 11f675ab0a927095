"""The knowledge graph: entities as nodes, current facts as directed relation-keyed edges."""
from __future__ import annotations

import gc
import os
import pickle
from pathlib import Path
from typing import Iterable

import networkx as nx

from kme_store.storage import FactRow


class KnowledgeGraph:
    """A networkx MultiDiGraph over entity ids, derived from storage.

    Edge (subject, object, key=relation id) carries the fact id. Only current facts are edges, so
    a walk sees exactly what the store answers now. Names stay in storage: holding them here too
    would double the memory of a large store for nothing a walk needs.
    """

    def __init__(self, graph: nx.MultiDiGraph | None = None) -> None:
        self._g = graph if graph is not None else nx.MultiDiGraph()

    def __len__(self) -> int:
        return self._g.number_of_edges()

    @property
    def nx(self) -> nx.MultiDiGraph:
        """The underlying graph, for read-only analysis with networkx algorithms."""
        return self._g

    def apply(self, rows: Iterable[FactRow]) -> None:
        """Bring the edges of these facts in line with their status."""
        for row in rows:
            if row.status == "current":
                self._g.add_edge(row.subject_id, row.object_id, key=row.relation_id, fact=row.id)
            else:
                self.remove(row)

    def remove(self, row: FactRow) -> None:
        data = self._g.get_edge_data(row.subject_id, row.object_id, key=row.relation_id)
        if data is not None and data.get("fact") == row.id:
            self._g.remove_edge(row.subject_id, row.object_id, key=row.relation_id)
            for node in (row.subject_id, row.object_id):
                if node in self._g and self._g.degree(node) == 0:
                    self._g.remove_node(node)

    def out_facts(self, entity_id: int, relation_id: int | None = None) -> list[tuple[int, int, int]]:
        """(object id, relation id, fact id) of the entity's current facts, optionally of one relation."""
        if entity_id not in self._g:
            return []
        return [(o, r, d["fact"]) for _, o, r, d in self._g.out_edges(entity_id, keys=True, data=True)
                if relation_id is None or r == relation_id]

    def in_facts(self, entity_id: int) -> list[tuple[int, int, int]]:
        """(subject id, relation id, fact id) of the current facts whose object is the entity."""
        if entity_id not in self._g:
            return []
        return [(s, r, d["fact"]) for s, _, r, d in self._g.in_edges(entity_id, keys=True, data=True)]

    def neighbours(self, entity_id: int) -> set[int]:
        if entity_id not in self._g:
            return set()
        return set(self._g.successors(entity_id)) | set(self._g.predecessors(entity_id))

    def walk(self, entity_id: int, relation_ids: list[int]) -> list[list[int]]:
        """Fact-id paths from the entity along the relations, one per branch; [] where it breaks off."""
        paths: list[tuple[int, list[int]]] = [(entity_id, [])]
        for rel in relation_ids:
            paths = [(o, path + [fid]) for node, path in paths for o, _, fid in self.out_facts(node, rel)]
            if not paths:
                return []
        return [path for _, path in paths]

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(self._g, f, protocol=pickle.HIGHEST_PROTOCOL)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> KnowledgeGraph:
        # Only files this store wrote itself are read here (its own data directory).
        # A large graph unpickles into millions of small dicts; the cyclic collector would walk
        # them again and again while they are built (twice as slow at 1M edges). None of them
        # can form garbage cycles during the load, so it is paused.
        paused = gc.isenabled()
        gc.disable()
        try:
            with open(path, "rb") as f:
                graph = pickle.load(f)
        finally:
            if paused:
                gc.enable()
        if not isinstance(graph, nx.MultiDiGraph):
            raise ValueError(f"{path} does not hold a MultiDiGraph")
        return cls(graph)
