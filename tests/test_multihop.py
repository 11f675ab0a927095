"""Multi-hop answering: chain extraction on paraphrases, walking store and model hops, edits, routing."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pytest
from kme_store.facts import StoredRelation

from kme_server.answering import Answerer, Plan
from kme_server.answers import CandidateScore, GenerationOptions, Mode
from kme_server.multihop import (MultiHop, MultiHopSettings, RelationCatalogue, compose, find_start, install,
                                 normalize_answer)
from kme_server.multihop.beam import BeamExtractor, _distinct, _Gram, _grams, _State
from kme_server.multihop.chain import ChainParse, StartEntity

CLOZE = {"P170": "[X] was created by __", "P27": "[X] is a citizen of __", "P36": "The capital of [X] is __",
         "P17": "[X] is located in the country of __", "P50": "The author of [X] is __",
         "P26": "[X] is married to __"}
QUESTIONS = {"P170": "Who was [X] created by?", "P27": "What is the country of citizenship of [X]?",
             "P36": "What is the capital of [X]?", "P17": "Which country is [X] located in?",
             "P50": "Who is the author of [X]?", "P26": "Who is [X] married to?"}
LABELS = {"P170": "creator", "P27": "country of citizenship", "P36": "capital", "P17": "country",
          "P50": "author", "P26": "spouse"}

WORLD = [
    {"subject": "Devious Maids", "relation": "creator", "relation_id": "P170", "object": "Marc Cherry"},
    {"subject": "Marc Cherry", "relation": "country of citizenship", "relation_id": "P27",
     "object": "United States of America", "object_aliases": ["USA"]},
    {"subject": "United States of America", "relation": "capital", "relation_id": "P36", "object": "Washington"},
    {"subject": "Bulgaria", "relation": "capital", "relation_id": "P36", "object": "Sofia"},
]


class CannedModel:
    """Completes known cloze prompts with canned answers (raw, as a model would), anything else with noise."""

    name = "canned"

    def __init__(self, answers: dict[str, str] | None = None) -> None:
        self.answers = answers or {}
        self.prompts: list[str] = []

    def generate(self, prompt: str, options: GenerationOptions = GenerationOptions()) -> str:
        self.prompts.append(prompt)
        return self.answers.get(prompt, " something else entirely\nmore")

    def stream(self, prompt: str, options: GenerationOptions = GenerationOptions()) -> Iterator[str]:
        yield self.generate(prompt, options)

    def score(self, prompt: str, candidates: Sequence[str]) -> list[CandidateScore]:
        return [CandidateScore(c, 0.0, 1) for c in candidates]

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def chat_prompt(self, user_text: str) -> str:
        return user_text


def _labels_json(labels: dict[str, str]) -> dict:
    return {"results": {"bindings": [
        {"property": {"value": f"http://www.wikidata.org/entity/{k}"}, "propertyLabel": {"value": v}}
        for k, v in labels.items()]}}


@pytest.fixture
def settings(tmp_path: Path) -> MultiHopSettings:
    (tmp_path / "cloze_templates.json").write_text(json.dumps(CLOZE))
    (tmp_path / "question_templates.json").write_text(json.dumps(QUESTIONS))
    (tmp_path / "labels.json").write_text(json.dumps(_labels_json(LABELS)))
    return MultiHopSettings(templates_dir=tmp_path, relation_labels=tmp_path / "labels.json")


@pytest.fixture
def world(store):
    store.add(WORLD)
    return store


def test_catalogue_reads_templates_and_labels(settings):
    cat = RelationCatalogue.from_settings(settings)
    citizen = cat.get("P27")
    assert citizen.label == "country of citizenship"
    assert citizen.cloze.format("Marc Cherry") == "Marc Cherry is a citizen of"
    assert compose([cat.get("P170"), cat.get("P27")], "X") == "What is the country of citizenship of the creator of X?"


@pytest.mark.parametrize("question", [
    "What is the capital of the country of citizenship of the creator of Devious Maids?",
    "Which city is the capital of the country where the creator of \"Devious Maids\" is a citizen?",
    "What is the capital city of the country that the creator of Devious Maids is a citizen of?",
    # Words no template uses ("land", "whose", "seat of government"); word order unlike any template.
    "Name the seat of government, the capital, of the land whose citizen created Devious Maids.",
])
def test_chain_extraction_survives_paraphrase(world, embedder, settings, question):
    mh = MultiHop(world, None, embedder, settings)
    parse = mh.parse(question)
    assert parse is not None and parse.entity.name == "Devious Maids"
    assert parse.keys == ["P170", "P27", "P36"]
    assert mh.is_multi_hop(parse)


@pytest.mark.parametrize("question", [
    "What is the capital of the country of citizenship of Devious Maids's creator?",
    "Which country is Devious Maids' creator a citizen of?",
])
def test_a_relation_named_after_the_entitys_possessive_is_the_first_hop(store, embedder, settings, question):
    """"X's creator" is X's own relation: innermost, whatever the words left of X say. An empty
    store, so the words alone decide (the graph would otherwise vouch for the stored order)."""
    parse = MultiHop(store, None, embedder, settings).parse(question)
    assert parse is not None and parse.entity.name == "Devious Maids"
    assert parse.keys[0] == "P170" and len(parse.keys) >= 2


FOUNDER_RELATIONS = {  # Wikidata id: (cloze, question, label)
    "P140": ("[X] is affiliated with the religion of __", "Which religion is [X] affiliated with?",
             "religion or worldview"),
    "P112": ("[X] was founded by __", "Who founded [X]?", "founded by"),
    "P937": ("[X] worked in the city of __", "Which city did [X] work in?", "work location"),
    "P19": ("[X] was born in the city of __", "Which city was [X] born in?", "place of birth"),
    "P27": ("[X] is a citizen of __", "What is the country of citizenship of [X]?", "country of citizenship"),
    "P30": ("[X] is located in the continent of __", "Which continent is [X] located in?", "continent"),
}


@pytest.fixture
def founder_settings(tmp_path: Path) -> MultiHopSettings:
    (tmp_path / "cloze_templates.json").write_text(json.dumps({k: v[0] for k, v in FOUNDER_RELATIONS.items()}))
    (tmp_path / "question_templates.json").write_text(json.dumps({k: v[1] for k, v in FOUNDER_RELATIONS.items()}))
    (tmp_path / "labels.json").write_text(json.dumps(_labels_json({k: v[2] for k, v in FOUNDER_RELATIONS.items()})))
    return MultiHopSettings(templates_dir=tmp_path, relation_labels=tmp_path / "labels.json")


@pytest.mark.parametrize("question, keys", [
    ("In which city was the founder of Aldhelm's religion born?", ["P140", "P112", "P19"]),
])
def test_the_closing_words_read_with_the_wh_frame_name_the_outermost_hop(store, embedder, founder_settings,
                                                                          question, keys):
    """"Where did the founder of X's religion work?": "work" closes the question but asks where the
    founder worked, after the religion and its founder (an edit of X's religion is stored)."""
    store.add([{"subject": "Aldhelm", "relation": "religion or worldview", "relation_id": "P140",
                "object": "Confucianism"}])
    parse = MultiHop(store, None, embedder, founder_settings).parse(question)
    assert parse is not None and parse.entity.name == "Aldhelm"
    assert parse.keys == keys


# all-MiniLM-L6-v2's similarity of "religion or worldview"'s phrasings to the question's phrases,
# cue bonus included, as the service measured them (the test embedder's differ).
RELIGION_SIMS = {"birthplace": 0.32, "birthplace of the founder": 0.34, "founder": 0.41,
                 "founder of the religion": 0.78, "founder of the religion followed": 0.74,
                 "religion": 0.87, "religion followed": 0.76, "followed": 0.24}


@pytest.mark.parametrize("phrases, founder_left", [(2, False), (3, True)])
def test_a_hop_branches_over_enough_phrases_to_leave_the_next_hop_its_word(founder_settings, phrases,
                                                                          founder_left):
    """"the birthplace of the founder of the religion followed by X": religion's two best phrases
    (by worth, longer ones worth more) both hold "founder"; branching over them alone, no partial
    chain leaves the founder a word, and the chain skips that hop (MQuAKE-CF dev's chain reading:
    562 of 933 questions at two phrases, 608 at four)."""
    question = "What is the birthplace of the founder of the religion followed by Martin of Braga?"
    start = question.index("Martin")
    entity = StartEntity("Martin of Braga", start, start + len("Martin of Braga"), True)
    grams = _grams(question, entity)
    assert {g.text for g in grams} == set(RELIGION_SIMS)
    settings = founder_settings.model_copy(update={"phrases_per_hop": phrases})
    extractor = BeamExtractor(None, RelationCatalogue.from_settings(settings), None, settings)
    religion = extractor.catalogue.get("P140")
    founder = next(i for i, g in enumerate(grams) if g.text == "founder")
    root = _State((), (entity.name,), frozenset(), (), (), (), 0, 0, None)
    grown = extractor._extend(root, religion, np.array([RELIGION_SIMS[g.text] for g in grams]), grams, entity, ())
    assert len(grown) == phrases
    assert any(not grams[founder].words & st.claimed for st in grown) == founder_left


def test_closing_words_stand_where_the_frame_stands_unless_a_relative_clause_holds_them():
    """The order the beam reads hops in: a gram's position. Closing words of a framed question
    move to the frame (outermost hop), with framed twins; inside a relative clause they stay."""
    question = "Where did the founder of Aldhelm's religion work?"
    start = question.index("Aldhelm")
    grams = {g.text: g for g in _grams(question, StartEntity("Aldhelm", start, start + len("Aldhelm"), True))}
    assert grams["work"].position == 0 and grams["Where work"].position == 0
    assert grams["founder"].position == question.index("founder")
    assert grams["religion"].possessive and grams["religion"].position == question.index("religion")

    question = "Who is the head of government of the country where Frank Strayer holds citizenship?"
    start = question.index("Frank")
    grams = {g.text: g for g in _grams(question, StartEntity("Frank Strayer", start, start + 13, True))}
    assert grams["holds citizenship"].position == question.index("where")  # where its clause opens
    assert "Who holds citizenship" not in grams  # the relative clause's words, not the frame's

    question = "Where did the founder of the religion that Aldhelm followed work?"  # "did": the frame's verb
    start = question.index("Aldhelm")
    grams = {g.text: g for g in _grams(question, StartEntity("Aldhelm", start, start + 7, True))}
    assert grams["work"].position == 0 and grams["followed"].position == question.index("that")

    question = "In which continent does Aldhelm hold citizenship?"
    start = question.index("Aldhelm")
    grams = [g for g in _grams(question, StartEntity("Aldhelm", start, start + 7, True)) if g.requires]
    assert [(g.text, g.requires) for g in grams] == [("In which continent hold citizenship", {"continent"}),
                                                   ("In which continent citizenship", {"continent"})]
    assert not any(g.requires for g in _grams(question, StartEntity("Aldhelm", start, start + 7, True), False))


def _grams_of(question: str, entity: str, **flags) -> dict[str, _Gram]:
    start = question.index(entity)
    return {g.text: g for g in _grams(question, StartEntity(entity, start, start + len(entity), True), **flags)}


def test_words_after_the_entity_read_where_its_relative_clause_opens():
    """In "the country where the creator of X holds citizenship" the clause's closing words name
    the hop after the creator: they stand at "where", and their twin claims the clause's head noun
    ("country"), which alone names a hop only once the clause's words named one."""
    question = "What is the capital of the country where the creator of Devious Maids holds citizenship?"
    grams = _grams_of(question, "Devious Maids")
    where = question.index("where")
    assert grams["holds citizenship"].position == where and grams["citizenship"].position == where
    twin = grams["country holds citizenship"]
    assert twin.requires == {"country"} and twin.position == where
    assert grams["country"].after == twin.words - grams["country"].words
    assert grams["capital"].position == question.index("capital") and not grams["capital"].after
    assert _grams_of(question, "Devious Maids", read_clauses=False)["holds citizenship"].position \
        == question.index("holds")

    # A possessive's nouns are the entity's own hops; they stay where they are.
    question = "What is the capital of the country where Marc Cherry's spouse holds citizenship?"
    grams = _grams_of(question, "Marc Cherry")
    assert grams["spouse"].position == question.index("spouse")
    assert grams["holds citizenship"].position == question.index("where")

    # A wh-word after the entity opens the question's own frame: the clause ended before it.
    question = "The sport to which Aldhelm belongs is from which continent?"
    assert _grams_of(question, "Aldhelm")["belongs"].position == question.index("belongs")

    # "Where was ... born?" is a passive: "born" is the frame's verb however many clauses precede it.
    question = "Where was the founder of the religion that Aldhelm followed born?"
    grams = _grams_of(question, "Aldhelm")
    assert grams["born"].position == 0 and grams["followed"].position == question.index("that")
    question = "What was the religion that Aldhelm followed?"  # "What was": no verb left to the end
    assert _grams_of(question, "Aldhelm")["followed"].position == question.index("that")


def test_the_beam_keeps_one_order_of_each_set_of_hops(settings):
    """Orders of the same hops naming the same words differ by the order penalty alone; the beam
    keeps the best of them and gives the other places to other chains."""
    catalogue = RelationCatalogue.from_settings(settings)
    creator, citizenship, capital = (catalogue.get(k) for k in ("P170", "P27", "P36"))

    def state(*relations, claimed=frozenset({1, 2})):
        return _State(relations, (), frozenset(claimed), (), (), (), 0, 0, None)

    ranked = [(2.0, state(creator, citizenship)), (1.9, state(citizenship, creator)),
              (1.8, state(creator, citizenship, claimed={1, 3})), (1.5, state(citizenship, capital)),
              (1.0, state(capital, citizenship))]
    kept = _distinct(ranked, 3)
    assert [(score, [r.key for r in st.relations]) for score, st in kept] == [
        (2.0, ["P170", "P27"]), (1.8, ["P170", "P27"]), (1.5, ["P27", "P36"])]
    assert len(_distinct(ranked, 1)) == 1


def test_a_relative_clause_names_its_hop_and_its_head_noun_none(world, embedder, settings):
    """"the country where X holds citizenship" asks X's citizenship: "country" is the clause's head,
    not a hop "country" of its own, and the citizenship comes before the capital."""
    multihop = MultiHop(world, None, embedder, settings)
    parse = multihop.parse("What is the capital of the country where the creator of Devious Maids holds citizenship?")
    assert parse is not None and parse.keys == ["P170", "P27", "P36"]
    walk = multihop.walker.walk(parse.entity.name, parse.relations, ask_model=False)
    assert walk.complete and walk.answer == "Washington"


def test_chain_extraction_without_the_start_entity_in_the_store(store, embedder, settings):
    # Edits only: the store knows nothing about the show, so the start comes from the quotes
    # and the chain from the words alone.
    mh = MultiHop(store, None, embedder, settings)
    parse = mh.parse("Who is the author of \"The Silent Harbour\" married to?")
    assert parse is not None and parse.entity.name == "The Silent Harbour" and not parse.entity.in_store
    assert parse.keys == ["P50", "P26"]


def test_start_entity_falls_back_to_capitalized_words(store):
    start = find_start("What is the capital of the country of citizenship of Frank Strayer?", store)
    assert start is not None and start.name == "Frank Strayer" and not start.in_store


def test_a_stored_name_inside_a_longer_name_is_not_the_start_entity(world):
    """"Marc Cherry Foundation" names something else than the stored Marc Cherry: the walk must not
    start from him (CounterFact's locality prompts: "Vanderbilt University Department of ...")."""
    start = find_start("Who founded the Marc Cherry Foundation?", world)
    assert start is not None and start.name == "Marc Cherry Foundation" and not start.in_store
    # A lower-case word or punctuation after the name ends it as before.
    assert find_start("Who is Marc Cherry married to?", world).name == "Marc Cherry"
    assert find_start("Where was Marc Cherry's mother born?", world).name == "Marc Cherry"
    assert find_start("What is the capital of Bulgaria? It is", world).name == "Bulgaria"


def test_walk_uses_store_facts(world, embedder, settings):
    model = CannedModel()
    plan = MultiHop(world, model, embedder, settings).plan(
        "What is the capital of the country of citizenship of the creator of Devious Maids?")
    assert plan is not None and plan.mode is Mode.MULTI_HOP and plan.answer == "Washington"
    assert [(h.subject, h.object, h.source) for h in plan.chain] == [
        ("Devious Maids", "Marc Cherry", "store"), ("Marc Cherry", "United States of America", "store"),
        ("United States of America", "Washington", "store")]
    assert all(h.fact_id is not None for h in plan.chain)
    assert [f.id for f in plan.facts] == [h.fact_id for h in plan.chain]
    assert model.prompts == []  # every hop was in the store


def test_walk_falls_back_to_the_model_and_continues_from_its_answer(store, embedder, settings):
    # Only the first hop is stored; the model answers the second from its cloze, and the
    # third hop reads the store again from the model's answer (an alias of a stored entity).
    store.add([WORLD[0], WORLD[2], {"subject": "USA", "relation": "capital", "relation_id": "P36",
                                    "object": "Washington"}])
    model = CannedModel({"Marc Cherry is a citizen of": " the USA. He was born"})
    walker = MultiHop(store, model, embedder, settings).walker
    cat = RelationCatalogue.from_settings(settings)
    walk = walker.walk("Devious Maids", [cat.get("P170"), cat.get("P27"), cat.get("P36")])
    assert [(h.object, h.source) for h in walk.hops] == [
        ("Marc Cherry", "store"), ("USA", "model"), ("Washington", "store")]
    assert walk.hops[1].fact_id is None
    assert model.prompts == ["Marc Cherry is a citizen of"]


def test_walk_bridges_a_hop_the_question_leaves_unnamed(world, embedder, settings):
    """"The capital of the country of the creator of X": people have citizenship, not a country.
    The store has no P17 of Marc Cherry, but one stored hop (P27) reaches an entity with P36's
    chain; the walk inserts no hop unless the store can follow it."""
    cat = RelationCatalogue.from_settings(settings)
    model = CannedModel()
    walker = MultiHop(world, model, embedder, settings).walker
    # Marc Cherry --country?--> : stored relations of Marc Cherry do not include P17; the only
    # stored onward hop (P27) leads to an entity with a capital, so a bridge via P27 answers P36.
    walk = walker.walk("Marc Cherry", [cat.get("P36")])
    assert [(h.relation, h.object, h.source) for h in walk.hops] == [
        ("country of citizenship", "United States of America", "store"), ("capital", "Washington", "store")]
    assert model.prompts == []
    # With bridging off the model is asked, as before.
    off = MultiHop(world, model, embedder, settings.model_copy(update={"bridge_hops": 0})).walker
    walk = off.walk("Marc Cherry", [cat.get("P36")])
    assert [h.source for h in walk.hops] == ["model"] and model.prompts == ["The capital of Marc Cherry is"]


def test_walk_lets_a_similar_stored_relation_stand_in(store, embedder, settings):
    """"Author" asked, "creator" stored: the stored fact answers when the relations are close
    enough in meaning, and only then."""
    store.add([WORLD[0]])
    cat = RelationCatalogue.from_settings(settings)
    model = CannedModel()
    loose = MultiHop(store, model, embedder, settings.model_copy(update={"stand_in_similarity": 0.3})).walker
    walk = loose.walk("Devious Maids", [cat.get("P50")])
    assert [(h.relation, h.object, h.source) for h in walk.hops] == [("creator", "Marc Cherry", "store")]
    strict = MultiHop(store, model, embedder, settings.model_copy(update={"stand_in_similarity": 1.0})).walker
    walk = strict.walk("Devious Maids", [cat.get("P50")])
    assert [h.source for h in walk.hops] == ["model"]


def test_a_stored_relation_that_narrows_the_asked_one_stands_in_whatever_its_similarity(store, embedder, settings):
    """"Country" asked of a person, "country of citizenship" stored: the specific fact answers the
    generic question even where the two relations' phrases are far apart; the reverse does not."""
    store.add([WORLD[1], {"subject": "Sofia", "relation": "country", "relation_id": "P17", "object": "Bulgaria"}])
    cat = RelationCatalogue.from_settings(settings)
    model = CannedModel()
    strict = settings.model_copy(update={"stand_in_similarity": 1.0})
    walk = MultiHop(store, model, embedder, strict).walker.walk("Marc Cherry", [cat.get("P17")])
    assert [(h.relation, h.object, h.source) for h in walk.hops] == [
        ("country of citizenship", "United States of America", "store")]
    walk = MultiHop(store, model, embedder, strict).walker.walk("Sofia", [cat.get("P27")])
    assert [h.source for h in walk.hops] == ["model"]  # "country" does not narrow "country of citizenship"
    off = strict.model_copy(update={"stand_in_narrower": False})
    walk = MultiHop(store, model, embedder, off).walker.walk("Marc Cherry", [cat.get("P17")])
    assert [h.source for h in walk.hops] == ["model"]


def test_walk_takes_two_named_hops_in_the_order_the_store_holds(world, embedder, settings):
    """"The capital of the country where X's creator holds citizenship" may read creator, capital,
    citizenship: no capital of Marc Cherry is stored, but his citizenship is, and the capital of
    where it leads. Both hops are walked, in the store's order, and nothing is asked twice."""
    cat = RelationCatalogue.from_settings(settings)
    model = CannedModel()
    # No bridge and no stand-in (the test embedder's trigrams find any two "the ... of" close).
    exact = settings.model_copy(update={"bridge_hops": 0, "stand_in_similarity": 1.01})
    walker = MultiHop(world, model, embedder, exact).walker
    walk = walker.walk("Devious Maids", [cat.get("P170"), cat.get("P36"), cat.get("P27")])
    assert [(h.relation, h.object, h.source) for h in walk.hops] == [
        ("creator", "Marc Cherry", "store"), ("country of citizenship", "United States of America", "store"),
        ("capital", "Washington", "store")]
    assert walk.complete and model.prompts == []
    no_swap = MultiHop(world, model, embedder, exact.model_copy(update={"swap_from_store": False})).walker
    walk = no_swap.walk("Devious Maids", [cat.get("P170"), cat.get("P36"), cat.get("P27")])
    assert [h.source for h in walk.hops][:2] == ["store", "model"]
    model.prompts.clear()
    # Neither order stored: no swap, the model answers the hop as asked.
    walk = walker.walk("Devious Maids", [cat.get("P36"), cat.get("P170")])
    assert [h.source for h in walk.hops][:1] == ["model"] and model.prompts[0] == "The capital of Devious Maids is"


def test_an_edit_supersedes_the_world_fact_and_changes_the_final_answer(world, embedder, settings):
    mh = MultiHop(world, CannedModel(), embedder, settings)
    question = "What is the capital of the country of citizenship of the creator of Devious Maids?"
    assert mh.plan(question).answer == "Washington"
    world.add([{"prompt": "Marc Cherry is a citizen of", "subject": "Marc Cherry", "relation_id": "P27",
                "target_new": "Bulgaria", "ground_truth": "United States of America"}])
    plan = mh.plan(question)
    assert plan.answer == "Sofia"
    assert [h.object for h in plan.chain] == ["Marc Cherry", "Bulgaria", "Sofia"]


def test_normalize_answer():
    assert normalize_answer(" the United States, and") == "United States"
    assert normalize_answer(" Washington, D.C.\nmore") == "Washington"
    assert normalize_answer(" U.S.\nmore") == "U.S."
    assert normalize_answer("\n") == ""
    # A prefix's dot before a name is not the answer's end; a sentence's dot after it still is.
    assert normalize_answer(" St. Petersburg. It is") == "St. Petersburg"
    assert normalize_answer(" Joseph F. St. John, who") == "Joseph F. St. John"
    assert normalize_answer(" Main St. the") == "Main St"


def test_route_walks_multi_hop_questions_and_leaves_single_hop_ones(world, embedder, settings):
    model = CannedModel()
    answerer = Answerer(world, model)
    install(answerer, MultiHop(world, model, embedder, settings))
    multi = answerer.ask("What is the capital of the country of citizenship of the creator of Devious Maids?")
    assert multi.mode is Mode.MULTI_HOP and multi.answer == "Washington" and len(multi.chain) == 3
    single = answerer.ask("What is the capital of Bulgaria?")
    assert single.mode is not Mode.MULTI_HOP and not single.chain
    unrelated = answerer.ask("Tell me a joke about cats.")
    assert unrelated.mode is not Mode.MULTI_HOP
    # MULTI_HOP asked for explicitly walks a one-hop chain too.
    forced = answerer.ask("What is the capital of Bulgaria?", mode=Mode.MULTI_HOP)
    assert forced.mode is Mode.MULTI_HOP and forced.answer == "Sofia"


# The chain of the world's three-hop question without its last stored hop: the model answers it.
PARTIAL_WORLD = [f for f in WORLD if f["relation_id"] != "P36" or f["subject"] == "Bulgaria"]
CAPITAL_OF_USA = {"The capital of United States of America is": " Washington"}


def test_auto_asks_the_gate_before_walking_a_chain_the_model_must_help_walk(store, embedder, settings):
    """A chain-shaped question that the gate (SERAC's scope decision) claims is not walked, unless
    the store decides every hop of it."""
    store.add(PARTIAL_WORLD)
    model = CannedModel(CAPITAL_OF_USA)
    answerer = Answerer(store, model)
    asked: list[str] = []
    claimed = "What is the capital of the country of citizenship of the creator of Devious Maids?"

    def gate(text: str) -> Plan | None:
        asked.append(text)
        return Plan(Mode.SERAC, "in scope", answer="Picasso") if text == claimed else None

    install(answerer, MultiHop(store, model, embedder, settings), gate=gate)
    result = answerer.ask(claimed)
    assert result.mode is Mode.SERAC and result.answer == "Picasso" and not result.chain
    assert "parse" in result.timings_ms
    walked = answerer.ask("What is the capital of the country of citizenship of the creator of Devious Maids")
    assert walked.mode is Mode.MULTI_HOP and walked.answer == "Washington"
    assert [h.source for h in walked.chain] == ["store", "store", "model"]
    # Single-hop questions never reach the gate through the walk; MULTI_HOP never asks it.
    answerer.ask("What is the capital of Bulgaria?")
    answerer.ask(claimed, mode=Mode.MULTI_HOP)
    assert asked == [claimed, "What is the capital of the country of citizenship of the creator of Devious Maids"]


def test_auto_walks_a_chain_the_store_decides_whatever_the_gate_says(world, embedder, settings):
    """The scope classifier matches a question to one edit of its subject; where the store holds
    every hop of the chain the question reads, the graph answers without asking it."""
    model = CannedModel()
    answerer = Answerer(world, model)
    asked: list[str] = []

    def gate(text: str) -> Plan | None:
        asked.append(text)
        return Plan(Mode.SERAC, "in scope", answer="Picasso")

    install(answerer, MultiHop(world, model, embedder, settings), gate=gate)
    result = answerer.ask("What is the capital of the country of citizenship of the creator of Devious Maids?")
    assert result.mode is Mode.MULTI_HOP and result.answer == "Washington"
    assert [h.source for h in result.chain] == ["store"] * 3
    assert asked == [] and model.prompts == []


def test_auto_walks_a_one_hop_question_the_store_answers_through_an_unnamed_hop(world, embedder, settings):
    """"What is the capital of Marc Cherry?" names one relation that people do not have; the store
    reaches it through Marc Cherry's citizenship, so AUTO walks it. A one-hop question the store
    answers directly, or not at all, goes the way it went before."""
    model = CannedModel()
    answerer = Answerer(world, model)
    mh = MultiHop(world, model, embedder, settings)
    install(answerer, mh)
    bridged = answerer.ask("What is the capital of Marc Cherry?")
    assert bridged.mode is Mode.MULTI_HOP and bridged.answer == "Washington"
    assert [(h.relation, h.source) for h in bridged.chain] == [("country of citizenship", "store"),
                                                             ("capital", "store")]
    direct = mh.parse("What is the capital of Bulgaria?")
    assert direct is not None and direct.keys == ["P36"] and not mh.is_bridged(direct)
    assert answerer.ask("What is the capital of Bulgaria?").mode is not Mode.MULTI_HOP
    unknown = answerer.ask("What is the capital of Devious Maids?")  # no stored hop leads to a capital
    assert unknown.mode is not Mode.MULTI_HOP and model.prompts  # answered by the model as before
    off = MultiHop(world, model, embedder, settings.model_copy(update={"bridge_hops": 0}))
    assert not off.is_bridged(mh.parse("What is the capital of Marc Cherry?"))


def test_a_gated_chain_is_walked_when_the_counterfactual_model_abstains(store, embedder, settings):
    """The gate claimed the chain, but the model it sends it to says the edit does not bear on it:
    the question is a chain after all, and AUTO walks it rather than take the base answer."""
    store.add(PARTIAL_WORLD)
    model = CannedModel(CAPITAL_OF_USA)
    answerer = Answerer(store, model)
    question = "What is the capital of the country of citizenship of the creator of Devious Maids?"
    abstaining = CannedModel({"counterfactual prompt": " (unchanged)\nmore"})
    abstaining.name = "counterfactual"

    def gate(text: str) -> Plan | None:
        return Plan(Mode.SERAC, "counterfactual prompt", model=abstaining,
                    fallback=lambda: pytest.fail("the gate's own fallback is replaced by the walk"))

    install(answerer, MultiHop(store, model, embedder, settings), gate=gate)
    streamed = list(answerer.stream(question))
    assert [p for p in streamed if isinstance(p, str)] == ["Washington"]
    for result in (answerer.ask(question), answerer.ask_many([question], memo={})[0], streamed[-1]):
        assert result.mode is Mode.MULTI_HOP and result.answer == "Washington" and len(result.chain) == 3
        assert "abstained" in result.timings_ms
    assert abstaining.prompts == ["counterfactual prompt"] * 3


def test_auto_keeps_the_base_answer_when_a_walk_uses_no_stored_fact(store, embedder, settings):
    """A chain the model alone walks bears on no stored fact: AUTO answers as it would unwalked
    (the untouched answer), while MULTI_HOP asked for explicitly still walks it."""
    store.add([WORLD[0]])  # Marc Cherry is known, only as an object: no fact of his own
    model = CannedModel({"Marc Cherry is a citizen of": " France", "The capital of France is": " Paris"})
    answerer = Answerer(store, model)
    install(answerer, MultiHop(store, model, embedder, settings))
    question = "What is the capital of the country of citizenship of Marc Cherry?"
    walked = answerer.ask(question, mode=Mode.MULTI_HOP)
    assert walked.answer == "Paris" and [h.source for h in walked.chain] == ["model", "model"]
    auto = answerer.ask(question)
    assert auto.mode is not Mode.MULTI_HOP and not auto.chain
    assert auto.answer == answerer.ask(question, mode=Mode.NONE).answer == "something else entirely"
    # One stored hop is enough for AUTO to keep the walk.
    assert answerer.ask("What is the country of citizenship of the creator of Devious Maids?").mode is Mode.MULTI_HOP


def test_parsing_from_many_threads_gives_the_sequential_results(world, embedder, settings):
    """The engine parses from several worker threads at once; shared caches must not mix up."""
    from concurrent.futures import ThreadPoolExecutor

    asked = ["What is the capital of the country of citizenship of the creator of Devious Maids?",
             "Who was Devious Maids created by?", "What is the capital city of Bulgaria?"]
    expected = {q: MultiHop(world, None, embedder, settings).parse(q) for q in asked}
    shared = MultiHop(world, None, embedder, settings)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(shared.parse, asked * 8))
    for q, parse in zip(asked * 8, results):
        assert (parse.keys if parse else None) == (expected[q].keys if expected[q] else None)


def test_a_store_with_no_known_relations_parses_to_nothing(store, embedder):
    """Nothing to match a question against is not an error: AUTO falls back to other routes."""
    mh = MultiHop(store, None, embedder, MultiHopSettings())
    store.add([{"subject": "Devious Maids", "relation": "genre", "object": "comedy-drama"}])
    mh.parse("What is the capital of the country of the creator of Devious Maids?")


def test_a_relations_own_prompt_is_not_walked_as_a_chain(world, embedder, settings):
    """"X is located in the country of" is P17's own cloze: read as two hops, AUTO still does not walk it."""
    mh = MultiHop(world, None, embedder, settings)
    cat = mh.catalogue
    name = "Marc Cherry"
    at_start = StartEntity(name, 0, len(name), True)
    chain = ChainParse(at_start, [cat.get("P27"), cat.get("P36")], score=1.0)
    assert mh.asks_one_relation("Marc Cherry is located in the country of", at_start)
    assert not mh.is_multi_hop(chain, "Marc Cherry is located in the country of")
    # The question form too, case and punctuation aside.
    question = "what is the Capital of Marc Cherry"
    inside = StartEntity(name, question.index(name), question.index(name) + len(name), True)
    assert mh.asks_one_relation(question, inside)
    # A chain is never one relation's prompt about its start entity; nor is a prompt about another subject.
    question = "What is the capital of the country of citizenship of Marc Cherry?"
    inside = StartEntity(name, question.index(name), question.index(name) + len(name), True)
    assert not mh.asks_one_relation(question, inside)
    assert mh.is_multi_hop(ChainParse(inside, chain.relations, score=1.0), question)
    assert not mh.asks_one_relation("Marc Cherry is located in the country of", StartEntity("Marc", 0, 4, True))
    assert mh.is_multi_hop(chain)  # without the question, the parse alone decides


def test_the_catalogue_finds_a_relations_own_prompt_whatever_its_slot(settings):
    """asks_one: case and punctuation aside, and also for a template whose slot runs into a word."""
    cat = RelationCatalogue.from_settings(settings)
    assert cat.asks_one("marc cherry IS a citizen of!", "Marc Cherry")
    assert cat.asks_one("What is the capital of Bulgaria?", "Bulgaria")
    assert not cat.asks_one("What is the capital of the country of Bulgaria?", "Bulgaria")
    assert not cat.asks_one("Marc Cherry is a citizen of", "Cherry")  # the subject must fill the slot
    cat.learn_stored([StoredRelation("mates", "mates", "{}mates are")])
    assert cat.asks_one("Roommates are", "Room") and not cat.asks_one("Room mates are", "Room")


def test_a_question_opening_with_its_outer_hop_about_the_entity_is_not_walked(world, embedder, settings):
    """"Marc Cherry is a citizen of the city of" read as Marc Cherry's capital, then its citizenship:
    the question asks the outer hop (P27) of Marc Cherry himself, so AUTO does not walk it."""
    mh = MultiHop(world, None, embedder, settings)
    cat = mh.catalogue
    name = "Marc Cherry"
    question = "Marc Cherry is a citizen of the city of"
    at_start = StartEntity(name, 0, len(name), True)
    misread = ChainParse(at_start, [cat.get("P36"), cat.get("P27")], score=1.0)
    assert mh.opens_with_outer_hop(question, misread)
    assert not mh.is_multi_hop(misread, question)
    # The innermost hop may open a chain: "created by someone who is a citizen of" is P170, then P27.
    question = "Devious Maids was created by someone who is a citizen of"
    chain = ChainParse(StartEntity("Devious Maids", 0, 13, True), [cat.get("P170"), cat.get("P27")], score=1.0)
    assert not mh.opens_with_outer_hop(question, chain)
    assert mh.is_multi_hop(chain, question)
    # Whole words only: "citizenship" does not open with "citizen".
    assert not mh.opens_with_outer_hop("Marc Cherry is a citizenship of the city of", misread)


def test_the_catalogue_knows_every_stored_relation_before_a_question_is_read(store, embedder):
    """A relation known only from the store joins the catalogue when the next question is read, not
    when a walk first meets one of its facts, so a question reads the same whatever came before it."""
    mh = MultiHop(store, None, embedder, MultiHopSettings())
    store.add([{"prompt": "Hamburg is a twin city of", "subject": "Hamburg", "target_new": "Chicago"},
               {"subject": "Bulgaria", "relation": "capital", "object": "Sofia"}])
    assert mh.catalogue.get("is a twin city of") is None
    mh.parse("What is the capital of Bulgaria?")  # no walk meets Hamburg's fact
    learned = mh.catalogue.get("is a twin city of")
    assert learned is not None and learned.cloze == "{} is a twin city of"
    assert [r.key for r in store.relations()] == ["is a twin city of", "capital"]
    # Relations stored later join at the next question.
    store.add([{"subject": "Sofia", "relation": "mayor", "object": "Vasil Terziev"}])
    assert mh.catalogue.get("mayor") is None
    mh.parse("What is the capital of Bulgaria?")
    assert mh.catalogue.get("mayor") is not None and len(mh.catalogue) == 3


@pytest.mark.parametrize("followable", [True, False])
def test_a_phrase_just_under_the_threshold_names_a_hop_only_where_the_store_follows_it(
        store, embedder, settings, followable):
    """The graph may vouch for a hop whose phrase falls short of min_relation_similarity by up to
    graph_slack; without such a fact the relation is not tried at all (BeamExtractor skips it)."""
    store.add([{"subject": "Devious Maids", "relation": "author", "relation_id": "P50", "object": "Someone"},
               {"subject": "Marc Cherry", "relation": "country of citizenship", "relation_id": "P27",
                "object": "United States of America"}])
    if followable:
        store.add([WORLD[0]])
    extractor = BeamExtractor(store, RelationCatalogue.from_settings(settings), embedder, settings)
    theta, slack = settings.min_relation_similarity, settings.graph_slack
    named = {("P27", "country of citizenship"): 0.9, ("P170", "maker"): theta - slack / 2}

    def similarities(relations, grams):
        return np.array([[named.get((r.key, g.text), -1.0) for g in grams] for r in relations], dtype=np.float32)

    extractor._similarities = similarities
    question = "What is the country of citizenship of the maker of Devious Maids?"
    parse = extractor.extract(question)
    assert parse is not None and parse.entity.name == "Devious Maids"
    assert parse.keys == (["P170", "P27"] if followable else ["P27"])
