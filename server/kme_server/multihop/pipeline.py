"""MultiHop: catalogue, chain extractor and walker put together; question -> Plan with its chain."""
from __future__ import annotations

import logging
import threading
import time

from kme_store.embedder import Embedder

from kme_server.answering import Plan
from kme_server.answers import Mode
from kme_server.matching import normalize
from kme_server.models.base import LanguageModel
from kme_server.multihop.beam import BeamExtractor
from kme_server.multihop.chain import ChainExtractor, ChainParse, FactSource, StartEntity
from kme_server.multihop.decompose import ModelDecomposer
from kme_server.multihop.hop_styles import HopStyles
from kme_server.multihop.lexical import LexicalExtractor
from kme_server.multihop.relations import RelationCatalogue
from kme_server.multihop.settings import MultiHopSettings
from kme_server.multihop.similarity import RelationSimilarity
from kme_server.multihop.walker import Walker

log = logging.getLogger(__name__)


class MultiHop:
    """Answers a question by extracting its relation chain and walking it.

    `model` may be None (no model hops: a walk stops where the store is silent).
    """

    def __init__(self, store: FactSource, model: LanguageModel | None, embedder: Embedder,
                 settings: MultiHopSettings | None = None, catalogue: RelationCatalogue | None = None) -> None:
        self.settings = settings or MultiHopSettings()
        self.store = store
        self._relations_seen = 0  # how many of the store's relations the catalogue has learned
        self._learning = threading.Lock()
        self.catalogue = catalogue or RelationCatalogue.from_settings(self.settings)
        self.walker = Walker(store, model, self.settings, self.catalogue, RelationSimilarity(embedder),
                             _hop_styles(self.settings, model))
        self.extractor: ChainExtractor = self._extractor(store, model, embedder)

    def _extractor(self, store: FactSource, model: LanguageModel | None, embedder: Embedder) -> ChainExtractor:
        kind = self.settings.extractor
        if kind == "lexical":
            return LexicalExtractor(store, self.catalogue, self.settings)
        if kind == "model":
            if model is None:
                raise ValueError("extractor 'model' needs a language model")
            return ModelDecomposer(store, self.catalogue, embedder, model, self.settings)
        return BeamExtractor(store, self.catalogue, embedder, self.settings)

    def parse(self, question: str) -> ChainParse | None:
        # Every relation stored so far joins the catalogue before a question is read, so that a
        # question reads the same whatever was asked before it: learned only as walks met their
        # facts (Walker, for_fact), CounterFact's probes read differently by question order.
        self._learn_new_relations()
        return self.extractor.extract(question)

    def _learn_new_relations(self) -> None:
        # Only the relations stored since the last question: one query that usually returns none
        # (reading all of them cost 12 ms a question with 2,000 relations). The engine answers
        # from several threads; the lock keeps the count in step with what was learned.
        with self._learning:
            new = self.store.relations(skip=self._relations_seen)
            self.catalogue.learn_stored(new)
            self._relations_seen += len(new)

    def is_multi_hop(self, parse: ChainParse | None, question: str | None = None) -> bool:
        """AUTO's test: at least two hops, read with confidence, from a question that is not one
        known relation's own prompt (asks_one_relation) and does not open with its outermost hop
        asked of the entity itself (opens_with_outer_hop); those two when `question` is given."""
        return (parse is not None and len(parse.relations) >= 2 and parse.score >= self.settings.min_confidence
                and not (question is not None and (self.asks_one_relation(question, parse.entity)
                                                   or self.opens_with_outer_hop(question, parse))))

    def asks_one_relation(self, question: str, entity: StartEntity) -> bool:
        """Whether `question`, with `entity` as its subject, is word for word the cloze or the
        question of one relation the catalogue knows ("X died in the city of": P20's cloze).

        The beam may still read such a prompt as two hops, a phrase for each: "died in" of "the
        city of X", where the store holds a twin city of X's place of death (CounterFact's
        same-subject probes, session 14). A relation's own prompt asks that relation, so AUTO does
        not walk it; a chain ("the capital of the country of citizenship of X") is never one
        relation's prompt with X as its subject.
        """
        return self.catalogue.asks_one(question, question[entity.start:entity.end])

    def opens_with_outer_hop(self, question: str, parse: ChainParse) -> bool:
        """Whether `question` opens with the cloze of the chain's outermost relation about the
        start entity itself: "Kiev was born in the city of" read as Kiev's twin city, then where
        that city was born. In a chain the outermost hop's subject is the chain below it ("the
        twin city of Kiev was born in"), never the entity alone; a question opening with that
        hop about the entity asks it of the entity, whatever words follow. The innermost hop may
        open a chain so ("Hey Jude was performed by an artist who is a citizen of").
        """
        subject = question[parse.entity.start:parse.entity.end]
        opening = normalize(parse.relations[-1].cloze.replace("{}", subject))
        asked = normalize(question)
        # A cloze naming nothing besides its subject ("{}") says nothing of the question's reading.
        return opening != normalize(subject) and (asked == opening or asked.startswith(opening + " "))

    def is_bridged(self, parse: ChainParse | None) -> bool:
        """AUTO's second test: a question read with confidence as one relation that its entity's
        stored facts do not hold, even approximately, but that the store reaches through one
        unnamed hop ("What sport does X play?": X's position, then the position's sport). MQuAKE's
        questions often leave a hop out; the graph makes it explicit (Walker.needs_bridge)."""
        return (parse is not None and len(parse.relations) == 1 and parse.score >= self.settings.min_confidence
                and self.walker.needs_bridge(parse.entity.name, parse.relations[0]))

    def plan(self, question: str, parse: ChainParse | None = None, parse_ms: float = 0.0,
             store_only: bool = False) -> Plan | None:
        """The walk's answer as a Plan (answer set, so nothing more is generated), or None when the
        question has no chain or the walk found nothing; with `store_only`, None unless the store
        decided every hop (the model is not asked)."""
        if parse is None:
            start = time.perf_counter()
            parse = self.parse(question)
            parse_ms = _ms(start)
        if parse is None or not parse.relations:
            return None
        start = time.perf_counter()
        walk = self.walker.walk(parse.entity.name, parse.relations, ask_model=not store_only)
        walk_ms = _ms(start)
        if not walk.hops or (store_only and not walk.complete):
            return None
        log.debug("%r -> %s from %r: %s", question, parse.keys, parse.entity.name, walk.answer)
        # The prompt is what a reader would ask the model to see the same chain: the last hop.
        prompt = walk.prompts[-1] if walk.prompts else parse.relations[-1].cloze.format(walk.hops[-1].subject)
        return Plan(Mode.MULTI_HOP, prompt, facts=list(walk.facts), chain=list(walk.hops), answer=walk.answer,
                    timings_ms={"parse": parse_ms, "walk": walk_ms})


def _hop_styles(settings: MultiHopSettings, model: LanguageModel | None) -> HopStyles | None:
    """The per-relation hop styles the settings ask for, when they were measured on this model."""
    if settings.hop_prompt != "per_relation" or model is None or settings.hop_styles is None:
        return None
    try:
        styles = HopStyles.load(settings.hop_styles)
    except FileNotFoundError:
        log.warning("no hop styles at %s (make hop-styles): every model hop is asked few-shot", settings.hop_styles)
        return None
    if styles.model != model.name:
        log.warning("hop styles at %s were measured on %s, not %s: every model hop is asked few-shot",
                    settings.hop_styles, styles.model, model.name)
        return None
    log.info("hop styles from %s: cloze for %d of %d relations", settings.hop_styles,
             sum(s == "cloze" for s in styles.styles.values()), len(styles.styles))
    return styles


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
