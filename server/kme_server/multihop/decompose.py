"""Chain extraction by the language model: it writes the question's relations few-shot, we map them."""
from __future__ import annotations

import numpy as np

from kme_store.embedder import Embedder

from kme_server.answers import GenerationOptions
from kme_server.models.base import LanguageModel
from kme_server.multihop.chain import ChainParse, FactSource, find_start
from kme_server.multihop.relations import RelationCatalogue
from kme_server.multihop.settings import MultiHopSettings

# Invented entities, so that no benchmark record leaks into the prompt.
_SHOTS = """Question: What is the capital of the country of citizenship of the author of The Silver Lake?
Relations: author; country of citizenship; capital
Question: Which continent is the country where the headquarters of Norvik Motors is located in?
Relations: headquarters location; country; continent
Question: Who is the spouse of the performer of "Blue Evening"?
Relations: performer; spouse
Question: In which city was the founder of the company that makes the Zentrix phone born?
Relations: manufacturer; founded by; place of birth
"""


class ModelDecomposer:
    """Asks the model to list the relations innermost first, then maps each line to the catalogue
    relation whose phrasings are closest (embedding similarity)."""

    def __init__(self, store: FactSource, catalogue: RelationCatalogue, embedder: Embedder, model: LanguageModel,
                 settings: MultiHopSettings) -> None:
        self.store = store
        self.catalogue = catalogue
        self.embedder = embedder
        self.model = model
        self.settings = settings
        self._keys: list[str] = []
        self._vecs: np.ndarray | None = None

    def extract(self, question: str) -> ChainParse | None:
        entity = find_start(question, self.store)
        if entity is None:
            return None
        raw = self.model.generate(f"{_SHOTS}Question: {question}\nRelations:",
                                  GenerationOptions(max_new_tokens=24, stop=("\n",)))
        names = [p.strip() for p in raw.split(";") if p.strip()][: self.settings.max_hops]
        if not names:
            return None
        keys, vecs = self._phrase_vectors()
        sims = self.embedder.encode(names) @ vecs.T
        relations, score = [], 0.0
        for row in sims:
            best = int(np.argmax(row))
            relations.append(self.catalogue.get(keys[best]))
            score += float(row[best])
        return ChainParse(entity, [r for r in relations if r is not None], score / len(names))

    def _phrase_vectors(self) -> tuple[list[str], np.ndarray]:
        if self._vecs is None or len(self._keys) != sum(len(r.phrasings()) for r in self.catalogue):
            pairs = [(r.key, p) for r in self.catalogue for p in r.phrasings()]
            self._keys = [k for k, _ in pairs]
            self._vecs = self.embedder.encode([p for _, p in pairs])
        return self._keys, self._vecs
