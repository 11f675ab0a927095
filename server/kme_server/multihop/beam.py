"""Chain extraction by a beam over relation chains, scored by phrase similarity, word coverage and the graph."""
from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, replace

import numpy as np

from kme_store.embedder import Embedder

from kme_server.multihop.chain import ChainParse, FactSource, StartEntity, find_start
from kme_server.multihop.relations import STOPWORDS, Relation, RelationCatalogue, cue_stems
from kme_server.multihop.settings import MultiHopSettings

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"[A-Za-z][A-Za-z'’\-]*")
_POSSESSIVE = re.compile(r"['’]s?\s+")
# The question's frame: a wh-word (after a preposition, with at most two nouns) up to its
# auxiliary, as in "Where did", "In which city was", "What country is".
_FRAME = re.compile(r"^\s*(?:(?:in|at|from|for|to|of|by|on)\s+)?(?:where|when|who|whom|which|what)\b"
                    r"(?P<nouns>(?:\s+[A-Za-z]+){0,2}?)"
                    r"(?=\s+(?P<aux>did|does|do|is|was|are|were|has|have|had|can|could|will|would)\b)", re.I)
_POSSESSIVE_END = re.compile(r"['’]s?\s+$")
_RELATIVE = re.compile(r"\b(?:where|that|which|who|whom|whose|when)\b", re.I)
# Between a relative clause's head noun and its relative word: nothing, or one preposition ("the
# country in which", "the person to whom").
_HEAD_GAP = re.compile(r"\s+(?:(?:in|to|from|of|at|by|for|on|with)\s+)?", re.I)
# A wh-word that asks: after the entity it opens the question's own frame, not a clause's.
_WH = re.compile(r"\b(?:which|what|where|who|whom)\b", re.I)
# Phrase vectors of question words kept per extractor; past this many the table starts over.
_GRAM_CACHE_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class _Gram:
    """Consecutive words of the question (outside the entity) that may name one relation."""

    text: str
    words: frozenset[int]  # indices of the content words it covers
    position: int  # character offset of its first word
    stems: frozenset[str]  # stems of its content words
    possessive: bool = False  # right after the entity's possessive ("X's spouse"): the innermost hop
    requires: frozenset[str] = frozenset()  # stems a relation's cues must hold to be named by it
    after: frozenset[int] = frozenset()  # words of which an earlier hop must have claimed one


@dataclass(frozen=True, slots=True)
class _State:
    relations: tuple[Relation, ...]
    entities: tuple[str, ...]  # where the store's facts lead; empty once a hop leaves the store
    claimed: frozenset[int]  # content words claimed by the hops' phrases
    gains: tuple[float, ...]  # what each hop's phrase is worth: words covered x similarity above threshold
    sims: tuple[float, ...]  # each hop's phrase similarity
    stems: tuple[frozenset[str], ...]  # word stems of each hop's phrase
    store_hops: int
    inversions: int  # hops named left of the entity but out of outside-in order
    last_left: int | None  # position of the last hop named left of the entity


@dataclass(slots=True)
class _CatalogueView:
    """A catalogue's relations as the chain reader compares them with a question's grams."""

    relations: list[Relation]
    phrase_vecs: np.ndarray  # [phrasing, dim]: every relation's phrasings, relation by relation
    phrased: np.ndarray  # the relations that have phrasings (indices into relations)
    first_rows: np.ndarray  # for each of those, the row of phrase_vecs where its phrasings begin
    by_stem: dict[str, list[int]]  # cue stem -> relations (indices) that have it

    def holds(self, relations: list[Relation]) -> bool:
        return len(self.relations) == len(relations) and all(a is b for a, b in zip(self.relations, relations))


class BeamExtractor:
    """Grows chains innermost hop first. A hop is justified by a phrase of the question that no
    other hop claimed (embedding similarity of the phrase to the relation's phrasings, less a
    threshold, once per word), or more cheaply by the graph: the store holds that relation for
    the entity the chain has reached. Each hop costs a little, so a hop must name words no other
    hop names; hops named out of outside-in order ("the capital of the country of X" reads X
    first) cost more.
    Only the question's short phrases are embedded, never whole candidate chains, so a question
    costs one small embedding batch however wide the beam.
    """

    def __init__(self, store: FactSource, catalogue: RelationCatalogue, embedder: Embedder,
                 settings: MultiHopSettings) -> None:
        self.store = store
        self.catalogue = catalogue
        self.embedder = embedder
        self.settings = settings
        # Embeddings of relation phrasings and question grams, by text. The engine answers from
        # several threads, so the caches are guarded; keyed by text, they cannot go stale when
        # the catalogue learns a relation.
        self._vecs: dict[str, np.ndarray] = {}
        self._cache_lock = threading.Lock()
        self._view: _CatalogueView | None = None

    def extract(self, question: str) -> ChainParse | None:
        entity = find_start(question, self.store)
        return None if entity is None else self.extract_from(question, entity)

    def extract_from(self, question: str, entity: StartEntity) -> ChainParse | None:
        s = self.settings
        grams = _grams(question, entity, s.read_frame, s.read_clauses)
        if not grams:
            return None
        relations = list(self.catalogue)
        sim = self._similarities(relations, grams)  # [relation, gram]
        index = {r.key: i for i, r in enumerate(relations)}
        # A hop needs a phrase at least this similar (less the graph's slack where the store can
        # follow the relation; _extend), so a relation with none is never tried: of the ~2,200
        # (state, relation) pairs a question used to try, most named nothing (no reading changes).
        best = sim.max(axis=1, initial=-np.inf)
        floor = s.min_relation_similarity
        beam = [_State((), (entity.name,), frozenset(), (), (), (), 0, 0, None)]
        finished: list[tuple[float, _State]] = []
        for _depth in range(s.max_hops):
            grown: list[tuple[float, _State]] = []
            for state in beam:
                followable = self._followable(state.entities)
                for key in dict.fromkeys([*followable, *index]):
                    if key not in index:  # a relation the catalogue learned just now from the store
                        continue
                    if best[index[key]] < (floor - s.graph_slack if key in followable else floor):
                        continue
                    rel = self.catalogue.get(key)
                    if rel is None or any(r.key == key for r in state.relations):
                        continue  # a relation twice in one chain is almost never asked
                    for nxt in self._extend(state, rel, sim[index[key]], grams, entity, followable.get(key, ())):
                        grown.append((self._score(nxt), nxt))
            if not grown:
                break
            grown.sort(key=lambda x: -x[0])
            kept = _distinct(grown, s.beam_width)
            beam = [st for _, st in kept]
            finished.extend(kept)
        if not finished:
            return None
        finished.sort(key=lambda x: -x[0])
        score, best = finished[0]
        confidence = float(np.mean(best.sims))
        return ChainParse(entity, list(best.relations), confidence, best.store_hops,
                          [([r.key for r in st.relations], sc) for sc, st in finished[1:4]])

    def _extend(self, state: _State, rel: Relation, sims: np.ndarray, grams: list[_Gram], entity: StartEntity,
                objects: tuple[str, ...]) -> list[_State]:
        """The state grown by `rel`, once for each of its best unclaimed phrases (phrases_per_hop)."""
        s = self.settings
        theta = s.min_relation_similarity
        options: list[tuple[float, float, _Gram]] = []
        for g, gram in enumerate(grams):
            if gram.words & state.claimed or not gram.requires <= rel.cues:
                continue
            if gram.after and not gram.after & state.claimed:
                continue  # a clause's head noun before the clause's own hop
            # A longer phrase is worth somewhat more, so one hop naming "country of citizenship"
            # beats two hops naming "country" and "citizenship"; branching over several phrases
            # keeps a greedy choice from stealing a word another hop needs.
            value = (float(sims[g]) - theta) * (1.0 + s.phrase_word_bonus * (len(gram.words) - 1))
            options.append((value, float(sims[g]), gram))
        options.sort(key=lambda o: -o[0])
        out = []
        for value, sim, gram in options[:s.phrases_per_hop]:
            store_hop = bool(objects) and sim >= theta
            if value < 0:
                # The graph may vouch for a hop the words only hint at, never for one they do not name.
                if not objects or sim < theta - s.graph_slack:
                    continue
                value = 0.0
            inversions, last_left = state.inversions, state.last_left
            if gram.possessive and state.relations:
                inversions += 1  # "X's spouse" names X's own relation, the chain's first
            if gram.position < entity.start:
                # Left of the entity the chain reads outside-in: each further hop is named further left.
                if last_left is not None and gram.position > last_left:
                    inversions += 1
                last_left = gram.position
            out.append(_State(state.relations + (rel,), objects, state.claimed | gram.words, state.gains + (value,),
                              state.sims + (sim,), state.stems + (gram.stems,), state.store_hops + store_hop,
                              inversions, last_left))
        return out

    def _score(self, state: _State) -> float:
        s = self.settings
        for i, stems in enumerate(state.stems):
            # A hop named only by words another hop's relation uses ("the country where X holds
            # citizenship": "country" belongs to citizenship) adds nothing, unless that other hop
            # was named by the same word elsewhere ("founded ... founded").
            others = [j for j in range(len(state.relations)) if j != i]
            cues = frozenset().union(*(state.relations[j].cues for j in others)) if others else frozenset()
            named = frozenset().union(*(state.stems[j] for j in others)) if others else frozenset()
            if stems and stems <= cues and not stems & named:
                return -np.inf
        return (sum(state.gains) - s.hop_cost * len(state.relations) + s.graph_bonus * state.store_hops
                - s.order_penalty * state.inversions)

    def _followable(self, entities: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
        """Relation key -> objects, for the current facts about these entities."""
        out: dict[str, list[str]] = {}
        for name in entities:
            for fact in self.store.facts_about(name):
                out.setdefault(self.catalogue.for_fact(fact).key, []).append(fact.object)
        return {k: tuple(dict.fromkeys(v)) for k, v in out.items()}

    def _similarities(self, relations: list[Relation], grams: list[_Gram]) -> np.ndarray:
        """Best similarity of each relation's phrasings to each gram, plus a bonus for shared stems."""
        view = self._catalogue_view(relations)
        gvecs = self._encode_grams([g.text for g in grams])
        raw = view.phrase_vecs @ gvecs.T  # [phrase, gram]
        out = np.full((len(relations), len(grams)), -1.0, dtype=np.float32)
        if len(view.phrased):
            # a relation's phrasings are consecutive rows: one reduction per relation
            out[view.phrased] = np.maximum(out[view.phrased], np.maximum.reduceat(raw, view.first_rows, axis=0))
        for g, gram in enumerate(grams):
            cued = {i for stem in gram.stems for i in view.by_stem.get(stem, ())}
            for i in cued:
                out[i, g] += self.settings.cue_bonus
        return out

    def _catalogue_view(self, relations: list[Relation]) -> _CatalogueView:
        """The embedded phrasings and cue index of `relations`, built once per catalogue.

        Every question compares its grams with every relation; rebuilding this per question cost
        1.6 of the chain reader's 8.8 ms on CounterFact (bench/plan_timing.py). The catalogue only
        adds relations, so the same objects in the same order mean the same phrasings and cues.
        """
        with self._cache_lock:
            view = self._view
        if view is not None and view.holds(relations):
            return view
        phrasings = [r.phrasings() for r in relations]
        vecs = self._encode_cached([p for ps in phrasings for p in ps])
        phrased = [i for i, ps in enumerate(phrasings) if ps]
        first_rows = np.cumsum([0, *(len(ps) for ps in phrasings)])[phrased]
        by_stem: dict[str, list[int]] = {}
        for i, rel in enumerate(relations):
            for cue in rel.cues:
                by_stem.setdefault(cue, []).append(i)
        view = _CatalogueView(list(relations), vecs, np.array(phrased, dtype=np.intp),
                              first_rows.astype(np.intp), by_stem)
        with self._cache_lock:
            self._view = view
        return view

    def _encode_grams(self, texts: list[str]) -> np.ndarray:
        return self._encode_cached(texts)

    def _encode_cached(self, texts: list[str]) -> np.ndarray:
        """Embeddings of `texts`, computing only those not seen before (bounded cache)."""
        if not texts:
            return self.embedder.encode([])
        with self._cache_lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._vecs]
            if missing:
                if len(self._vecs) + len(missing) > _GRAM_CACHE_LIMIT:
                    self._vecs.clear()
                    missing = list(dict.fromkeys(texts))
                for t, v in zip(missing, self.embedder.encode(missing)):
                    self._vecs[t] = v
            return np.stack([self._vecs[t] for t in texts])


def _distinct(ranked: list[tuple[float, _State]], width: int) -> list[tuple[float, _State]]:
    """The best `width` states, one per set of relations and claimed words: the orders of one set
    differ in score by the order penalty alone, and kept side by side they filled the beam ("the
    official language of the country which the creator of X is a citizen of": every order of
    language and citizenship crowded out creator-then-citizenship, the order it asks)."""
    seen: set[tuple[frozenset[str], frozenset[int]]] = set()
    out = []
    for score, state in ranked:
        key = (frozenset(r.key for r in state.relations), state.claimed)
        if key not in seen:
            seen.add(key)
            out.append((score, state))
            if len(out) == width:
                break
    return out


def _grams(question: str, entity: StartEntity, read_frame: bool = True, read_clauses: bool = True) -> list[_Gram]:
    """Content words outside the entity, and their runs of one to three words (stopwords between
    allowed); with `read_frame`, the closing words read with the question's frame (_framed); with
    `read_clauses`, the words after the entity read where its relative clause opens (_in_clause)."""
    tokens = [(m.group(0), m.start()) for m in _TOKEN.finditer(question)
              if not (entity.start <= m.start() < entity.end)]
    content = [i for i, (w, _) in enumerate(tokens) if w.lower() not in STOPWORDS and len(w) > 2]
    grams: list[_Gram] = []
    for a, i in enumerate(content):
        for b in range(a, min(a + 3, len(content))):
            j = content[b]
            # A phrase never spans the entity: its words lie on one side of it.
            if (tokens[i][1] < entity.start) != (tokens[j][1] < entity.start) or j - i > 4:
                break
            end = tokens[j][1] + len(tokens[j][0])
            text = question[tokens[i][1]:end]
            possessive = _POSSESSIVE.fullmatch(question[entity.end:tokens[i][1]]) is not None
            grams.append(_Gram(text, frozenset(range(a, b + 1)), tokens[i][1], cue_stems(text), possessive))
    if read_frame:
        grams = _framed(question, entity, tokens, content, grams)
    return _in_clause(question, entity, tokens, content, grams) if read_clauses else grams


def _in_clause(question: str, entity: StartEntity, tokens: list[tuple[str, int]], content: list[int],
               grams: list[_Gram]) -> list[_Gram]:
    """Words after the entity, when the entity stands in a relative clause, read where the clause
    opens. In "the capital of the country where the director of X is a citizen" the clause's verb
    names the hop that follows the director (X, director, citizenship, capital): placed at "where",
    it stands left of the clause's hops and right of the capital, so the outside-in order takes it
    in turn; left after the entity, nothing placed it and the beam put the citizenship anywhere in
    the chain (MQuAKE-CF dev: after the capital). A possessive's nouns ("X's spouse", "X
    performer's manager") name the entity's own hops and stay where they are.

    The clause's head noun ("country" in "the country where ...") is the type of what the clause
    asks, not a hop of its own: the words closing the clause get a twin that claims the head noun
    too, for a relation whose own words hold it ("country" of citizenship). Without it "country"
    alone named a "country" hop and the clause's "holds citizenship" went unread.

    A wh-word after the entity ("The sport to which X belongs is from which continent?") ends the
    clause before the question's own frame: then nothing moves."""
    opened = list(_RELATIVE.finditer(question, 0, entity.start))
    if not opened or _WH.search(question, entity.end):
        return grams
    at = opened[-1].start()
    before = [a for a, i in enumerate(content) if tokens[i][1] < at]
    head = None  # the content word right before the relative word, if it is the clause's head noun
    if before:
        word, start = tokens[content[before[-1]]]
        if _HEAD_GAP.fullmatch(question, start + len(word), at):
            head = before[-1]
    last = len(content) - 1
    out, twins = [], []
    for gram in grams:
        if gram.position < entity.end or gram.possessive or _POSSESSIVE_END.search(question, 0, gram.position):
            out.append(gram)
            continue
        out.append(replace(gram, position=at))
        if head is not None and last in gram.words:
            word = tokens[content[head]][0]
            text = f"{word} {gram.text}"
            twins.append(_Gram(text, gram.words | {head}, at, cue_stems(text), requires=cue_stems(word)))
    if twins:
        # Alone, the head noun names a hop only after the clause's words named one ("the continent
        # where X died": X's place of death, then its continent); joined to the words before it
        # ("city of the country where"), it names none.
        clause = frozenset().union(*(t.words for t in twins)) - {head}
        alone = [replace(g, after=clause) for g in out if g.words == {head}]
        out = [g for g in out if head not in g.words] + alone + twins
    return out


def _verb_last(frame: re.Match[str]) -> bool:
    """Whether the frame leaves its main verb to the end of the question, past any relative
    clause: "did"/"does"/"do" ("Where did the founder of the religion that X followed work?"), and
    "was"/"were" after a wh-word that is not the subject or its complement ("Where was the founder
    of the religion that X belongs to born?", "By whom was ... founded?"): a passive. "What was",
    "Which city is", "Who is" ask for a noun phrase, and the closing words stay the clause's."""
    aux = frame.group("aux").lower()
    if aux in ("did", "does", "do"):
        return True
    opening = frame.group(0).split()[0].lower()
    return aux in ("was", "were") and opening not in ("what", "which", "who")


def _framed(question: str, entity: StartEntity, tokens: list[tuple[str, int]], content: list[int],
            grams: list[_Gram]) -> list[_Gram]:
    """The question's closing words right of the entity, read with its frame. "Where did the
    founder of X's religion work?" asks where the founder worked: the chain's outermost hop. When
    no relative word stands between the frame and the entity, the closing grams stand where the
    frame stands, left of every other hop, so the outside-in order puts them last; so they do after
    a relative clause when the frame's auxiliary is "do", which leaves the main verb to the end.
    Otherwise the closing words after a relative word are the clause's, not the frame's, and are
    left alone: in "the country where X holds citizenship" they name X's own relation, and read
    with the frame ("Which city is the capital of the country where ... originated") they named an
    extra outermost hop (MQuAKE-CF dev: 14 questions lost that way).

    Each closing gram also gets a framed twin that names it with the wh-word ("Where work": a
    work location, where "work" alone reads as an occupation). A frame with nouns ("In which city
    was ... born") gives one more twin that claims the nouns too, for a relation whose own words
    hold them ("city": place of birth); otherwise the nouns stay free to name their own hop ("In
    which continent does X hold citizenship")."""
    frame = _FRAME.match(question)
    if frame is None or not content or tokens[content[-1]][1] < entity.end:
        return grams
    # "did"/"does"/"do", and a passive's "was", leave the main verb to the end, after any relative
    # clause: "Where did the founder of the religion that X followed work?"
    if not _verb_last(frame) and _RELATIVE.search(question, frame.end(), entity.start):
        return grams
    nouns = frozenset(a for a, i in enumerate(content) if tokens[i][1] < frame.end())
    wh = question[frame.start():frame.start("nouns")].strip()
    last = len(content) - 1
    out = []
    for gram in grams:
        if (last not in gram.words or gram.possessive or gram.position < entity.end
                or _POSSESSIVE_END.search(question, 0, gram.position)):  # "the performer's manager": a noun
            out.append(gram)
            continue
        out.append(replace(gram, position=frame.start()))
        text = f"{wh} {gram.text}"
        out.append(_Gram(text, gram.words, frame.start(), cue_stems(text)))
        if nouns:
            text = f"{frame.group(0).strip()} {gram.text}"
            out.append(_Gram(text, gram.words | nouns, frame.start(), cue_stems(text),
                             requires=cue_stems(frame.group("nouns"))))
    return out
