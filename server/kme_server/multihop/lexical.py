"""Chain extraction from cue words alone: relations named in the question, ordered by nearness to the entity."""
from __future__ import annotations

import re

from kme_server.multihop.chain import ChainParse, FactSource, StartEntity, find_start
from kme_server.multihop.relations import STOPWORDS, RelationCatalogue, stem
from kme_server.multihop.settings import MultiHopSettings

_WORD = re.compile(r"[A-Za-z]+")


class LexicalExtractor:
    """A baseline without embeddings or the graph: each content word of the question is claimed by
    the relation whose phrasings share the most words with the question, and the claimed
    relations are ordered innermost first by their distance from the start entity (questions
    are written outside-in: "the capital of the country of X" is X -> country -> capital).
    """

    def __init__(self, store: FactSource, catalogue: RelationCatalogue, settings: MultiHopSettings) -> None:
        self.store = store
        self.catalogue = catalogue
        self.settings = settings

    def extract(self, question: str) -> ChainParse | None:
        entity = find_start(question, self.store)
        return None if entity is None else self.extract_from(question, entity)

    def extract_from(self, question: str, entity: StartEntity) -> ChainParse | None:
        words = [(m.start(), stem(m.group(0).lower())) for m in _WORD.finditer(question)
                 if not (entity.start <= m.start() < entity.end) and len(m.group(0)) > 2
                 and m.group(0).lower() not in STOPWORDS]
        present = {w for _, w in words}
        ranked = []
        for rel in self.catalogue:
            hits = rel.cues & present
            if hits:
                ranked.append((len(hits), len(hits) / len(rel.cues), rel, hits))
        ranked.sort(key=lambda x: (-x[0], -x[1]))
        claimed: set[str] = set()
        chosen = []
        for n, frac, rel, hits in ranked:
            if hits & claimed:
                continue
            claimed |= hits
            where = min(abs(pos - entity.start) for pos, w in words if w in hits)
            chosen.append((where, rel, frac))
            if len(chosen) == self.settings.max_hops:
                break
        if not chosen:
            return None
        chosen.sort(key=lambda x: x[0])
        score = sum(f for _, _, f in chosen) / len(chosen)
        return ChainParse(entity, [rel for _, rel, _ in chosen], score)
