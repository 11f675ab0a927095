"""Retrieval: from a question or cloze prompt to the current facts it is about, with scores."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kme_store.embedder import Embedder
from kme_store.facts import Hit
from kme_store.graph import KnowledgeGraph
from kme_store.index import VectorIndex
from kme_store.mentions import Mention, exact_mentions, fuzzy_score, span_grams, spans
from kme_store.settings import RetrievalSettings
from kme_store.storage import FactRow, SQLiteStorage
from kme_store.vectors import RelationVectors, fact_vectors, query_vector

# Neighbours fetched from the vector index per hit asked for: the index ranks by whole-fact
# similarity, the final score also weighs mentions and relations, so fetch wider, then rerank.
_WIDEN = 8
# An exactly named entity with more facts than this contributes its best-matching ones only
# (by relation), so that a hub entity cannot flood the candidates.
_MAX_PER_SUBJECT = 500


@dataclass(slots=True)
class _Candidate:
    row: FactRow
    subject_match: float = 0.0
    mention: str | None = None


class Retriever:
    """Scores candidate facts by three signals and keeps the best above a threshold.

    Candidates: the current facts of every entity the query names (exact name or alias), and the
    nearest facts in the vector index. Signals: how surely the subject is named (1 for an exact
    mention, trigram similarity for a near miss), how close the query is to the relation's
    phrase, and how close it is to the fact's vector as a whole.
    """

    def __init__(self, storage: SQLiteStorage, graph: KnowledgeGraph, index: VectorIndex, embedder: Embedder,
                 relations: RelationVectors, settings: RetrievalSettings) -> None:
        self._storage = storage
        self._graph = graph
        self._index = index
        self._embedder = embedder
        self._relations = relations
        self._settings = settings

    def retrieve(self, query: str, k: int, threshold: float) -> list[Hit]:
        s = self._settings
        q = self._embedder.encode([query])[0]
        qv = query_vector(query, q)
        mentions = exact_mentions(query, self._storage.lookup_names, s.max_mention_words, s.case_sensitive_below)
        candidates = self._named_facts(mentions, q)
        _, ids = self._index.search(qv[None, :], max(k, 1) * _WIDEN)
        nearest = [int(i) for i in ids[0] if i >= 0 and int(i) not in candidates]
        for row in self._storage.fact_rows(nearest):
            if row.status == "current":
                candidates[row.id] = _Candidate(row)
        if not candidates:
            return []
        self._score_fuzzy_mentions(query, candidates)
        return self._rank(q, qv, candidates, k, threshold)

    def _named_facts(self, mentions: list[Mention], q: np.ndarray) -> dict[int, _Candidate]:
        out: dict[int, _Candidate] = {}
        for m in mentions:
            facts = self._graph.out_facts(m.entity_id)
            if len(facts) > _MAX_PER_SUBJECT:
                facts.sort(key=lambda f: -float(self._relations.get(f[1]) @ q))
                facts = facts[:_MAX_PER_SUBJECT]
            for obj, rel, fid in facts:
                out[fid] = _Candidate(FactRow(fid, m.entity_id, rel, obj, "current"), m.score, m.span.text)
        return out

    def _score_fuzzy_mentions(self, query: str, candidates: dict[int, _Candidate]) -> None:
        unnamed = {c.row.subject_id for c in candidates.values() if c.subject_match == 0.0}
        if not unnamed:
            return
        names = self._storage.entity_names(unnamed)
        query_spans = span_grams(spans(query, self._settings.max_mention_words))
        fuzzy = {eid: fuzzy_score(name, query_spans) for eid, name in names.items()}
        for c in candidates.values():
            if c.subject_match == 0.0 and c.row.subject_id in fuzzy:
                score, span = fuzzy[c.row.subject_id]
                if score >= self._settings.fuzzy_mention_min and span is not None:
                    c.subject_match, c.mention = score, span.text

    def _rank(self, q: np.ndarray, qv: np.ndarray, candidates: dict[int, _Candidate], k: int,
              threshold: float) -> list[Hit]:
        s = self._settings
        cands = list(candidates.values())
        names = self._storage.entity_names([c.row.subject_id for c in cands])
        vecs = fact_vectors([c.row for c in cands], names, self._relations)
        similarity = np.clip(vecs @ qv, 0.0, 1.0)
        relation = np.clip(np.array([self._relations.get(c.row.relation_id) @ q for c in cands]), 0.0, 1.0)
        subject = np.array([c.subject_match for c in cands])
        score = s.w_subject * subject + s.w_relation * relation + s.w_similarity * similarity
        order = [i for i in np.argsort(-score, kind="stable") if score[i] >= threshold][:k]
        facts = self._storage.get_facts([cands[i].row.id for i in order])
        return [Hit(fact=facts[cands[i].row.id], score=float(score[i]), subject_match=float(subject[i]),
                    relation_match=float(relation[i]), similarity=float(similarity[i]), mention=cands[i].mention)
                for i in order]
