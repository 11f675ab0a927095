"""SERAC's route on an Answerer: scope decisions with a fake classifier, the fake model and store."""
from __future__ import annotations

from typing import Sequence

import pytest

from kme_store.errors import FieldError
from kme_store.facts import Fact

from kme_server.answering import Plan
from kme_server.answers import Mode
from kme_server.editing.serac.prompt import edit_prompt
from kme_server.editing.serac.route import install_serac
from kme_server.editing.serac.scope import ScopeMatch
from test_answering import EIFFEL, FakeModel, _answerer

DESIGNED = Fact(subject="Eiffel Tower", relation="was designed by", object="Picasso",
              template="{} was designed by", id=8)


class FakeClassifier:
    """In scope of the fact whose relation the query contains; records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Fact]]] = []

    def best(self, query: str, facts: Sequence[Fact]) -> ScopeMatch | None:
        self.calls.append((query, list(facts)))
        if not facts:
            return None
        for fact in facts:
            if fact.relation in query:
                return ScopeMatch(fact, 0.9, True)
        return ScopeMatch(facts[0], 0.1, False)


def _serac(facts: Sequence[Fact] = (EIFFEL, DESIGNED)):
    a = _answerer(facts=facts)
    classifier = FakeClassifier()
    install_serac(a, classifier)
    return a, classifier


@pytest.mark.parametrize("mode", [Mode.SERAC, Mode.AUTO])
def test_in_scope_query_gets_the_ike_prompt_of_only_that_fact(mode: Mode) -> None:
    a, classifier = _serac()
    result = a.ask("The Eiffel Tower is located in", mode)
    assert result.mode is Mode.SERAC
    assert result.answer == "Rome"
    assert result.facts == [EIFFEL]
    prompt = a.model.prompts[-1]
    assert prompt.endswith("New Fact: Eiffel Tower is located in Rome.\nPrompt: The Eiffel Tower is located in")
    assert "Picasso" not in prompt
    # Both facts were candidates; the store was asked once.
    assert classifier.calls == [("The Eiffel Tower is located in", [EIFFEL, DESIGNED])]
    assert len(a.store.calls) == 1
    assert {"retrieve", "scope", "prompt", "generate"} <= set(result.timings_ms)
    # The in-scope prompt is IN_CONTEXT's prompt with that one fact.
    assert prompt == a.in_context_plan("The Eiffel Tower is located in", [EIFFEL]).prompt


@pytest.mark.parametrize("mode", [Mode.SERAC, Mode.AUTO])
def test_out_of_scope_query_gets_exactly_the_base_prompt_and_answer(mode: Mode) -> None:
    a, classifier = _serac()
    # No number asked: both facts are the classifier's to weigh (a year question is test_a_question_for_a_year...).
    text = "The Eiffel Tower was painted by"
    base = a.ask(text, Mode.NONE)
    base_prompt = a.model.prompts[-1]
    result = a.ask(text, mode)
    assert classifier.calls and classifier.calls[-1][1] == [EIFFEL, DESIGNED]  # facts were retrieved
    assert result.mode is Mode.NONE
    assert a.model.prompts[-1] == base_prompt == a.plan(text, Mode.NONE).prompt
    assert result.answer == base.answer == "the base answer"
    assert result.facts == []


@pytest.mark.parametrize("mode", [Mode.SERAC, Mode.AUTO])
def test_no_facts_retrieved_is_none(mode: Mode) -> None:
    a, classifier = _serac()
    text = "Who wrote Hamlet?"
    result = a.ask(text, mode)
    assert result.mode is Mode.NONE
    assert a.model.prompts[-1] == a.plan(text, Mode.NONE).prompt == "Q: Who wrote Hamlet?\nA:"
    assert classifier.calls == []


def test_auto_keeps_the_previous_routes_multi_hop_plans() -> None:
    a = _answerer()
    walked = Plan(Mode.MULTI_HOP, "walk", facts=[EIFFEL], answer="Italy")
    previous = a.route(Mode.AUTO)
    a.register_route(Mode.AUTO, lambda text: walked if "country" in text else previous(text))
    classifier = FakeClassifier()
    install_serac(a, classifier)
    assert a.plan("In which country is the city where the Eiffel Tower is located?", Mode.AUTO) is walked
    assert classifier.calls == []
    assert a.plan("The Eiffel Tower is located in", Mode.AUTO).mode is Mode.SERAC


def test_serac_is_unavailable_until_installed() -> None:
    a = _answerer()
    with pytest.raises(FieldError) as err:
        a.ask("The Eiffel Tower is located in", Mode.SERAC)
    assert err.value.field == "mode"
    # AUTO without SERAC answers as before: IN_CONTEXT with every retrieved fact.
    assert a.plan("The Eiffel Tower is located in", Mode.AUTO).mode is Mode.IN_CONTEXT


def test_scope_gate_claims_only_in_scope_questions() -> None:
    from kme_server.editing.serac.route import scope_gate

    a, classifier = _serac()
    gate = scope_gate(a)
    claimed = gate("The Eiffel Tower is located in")
    assert claimed is not None and claimed.mode is Mode.SERAC and claimed.facts == [EIFFEL]
    assert gate("The Eiffel Tower was built in the year") is None
    assert gate("Who wrote Hamlet?") is None


class CounterfactualModel(FakeModel):
    """A trained counterfactual model's stand-in: another name, its own record of prompts; abstains
    on questions about a year or a comparison, as the trained model does where the edit does not bear."""

    name = "counterfactual"

    def _raw(self, prompt: str) -> str:
        if prompt.endswith(("year", " as")):
            return " (unchanged)\nPrompt: more"
        if prompt.endswith("district"):  # answers, but not with the edit's object
            return " Trastevere\nPrompt: more"
        if prompt.endswith("?"):
            return " Yes\nPrompt: more"
        return super()._raw(prompt)


def _serac_with_counterfactual(**settings: object):
    a, classifier = _serac()
    a.settings = a.settings.model_copy(update=settings)
    a.counterfactual = CounterfactualModel()
    return a, classifier


@pytest.mark.parametrize("mode", [Mode.SERAC, Mode.AUTO])
def test_a_trained_counterfactual_model_answers_in_scope_questions_from_the_edit_alone(mode: Mode) -> None:
    a, _ = _serac_with_counterfactual()
    result = a.ask("The Eiffel Tower is located in", mode)
    assert result.mode is Mode.SERAC and result.answer == "Rome" and result.facts == [EIFFEL]
    # The form it was trained on (editing/serac/counterfactual.py): no demonstrations.
    assert a.counterfactual.prompts == ["New Fact: Eiffel Tower is located in Rome.\nPrompt: The Eiffel Tower is located in"]
    assert a.model.prompts == []
    # Out of scope: the base model, untouched.
    base = a.ask("The Eiffel Tower was built in the year", mode)
    assert base.mode is Mode.NONE and base.answer == "the base answer"
    assert a.model.prompts == ["The Eiffel Tower was built in the year"]
    assert len(a.counterfactual.prompts) == 1


def test_ask_many_stream_and_score_complete_each_plan_with_its_own_model() -> None:
    a, _ = _serac_with_counterfactual()
    texts = ["The Eiffel Tower is located in", "The Eiffel Tower was built in the year"]
    memo: dict[tuple[str, str], str] = {}
    results = a.ask_many(texts, Mode.AUTO, memo=memo)
    assert [(r.mode, r.answer) for r in results] == [(Mode.SERAC, "Rome"), (Mode.NONE, "the base answer")]
    assert sorted(name for name, _ in memo) == ["counterfactual", "fake"]
    assert len(a.counterfactual.prompts) == 1 and len(a.model.prompts) == 1
    pieces = list(a.stream(texts[0], Mode.AUTO))
    assert "".join(p for p in pieces if isinstance(p, str)) == "Rome"
    assert len(a.counterfactual.prompts) == 2 and len(a.model.prompts) == 1
    scores = a.score(texts[0], ["Rome", "Paris"], Mode.AUTO)
    assert scores[0].logprob > scores[1].logprob
    assert len(a.counterfactual.prompts) == 3 and len(a.model.prompts) == 1


def test_counterfactual_base_keeps_the_prompted_base_model() -> None:
    a, _ = _serac_with_counterfactual(counterfactual="base")
    result = a.ask("The Eiffel Tower is located in", Mode.SERAC)
    assert result.answer == "Rome"
    assert a.counterfactual.prompts == []
    assert a.model.prompts[-1] == a.in_context_plan("The Eiffel Tower is located in", [EIFFEL]).prompt


def test_where_the_counterfactual_model_abstains_the_untouched_base_model_answers() -> None:
    a, classifier = _serac_with_counterfactual()
    text = "The Eiffel Tower is located in the same city as"  # the fake classifier claims it for EIFFEL
    base_prompt = a.plan(text, Mode.NONE).prompt
    result = a.ask(text, Mode.AUTO)
    assert classifier.calls[-1][0] == text
    assert (result.mode, result.answer, result.facts) == (Mode.NONE, "the base answer", [])
    assert a.counterfactual.prompts == [edit_prompt(text, EIFFEL.sentence())]
    assert a.model.prompts == [base_prompt]
    assert {"abstained", "generate"} <= set(result.timings_ms)
    # ask_many: the abstaining plan completes again with the base model; the others are untouched.
    results = a.ask_many([text, "The Eiffel Tower is located in"], Mode.AUTO, memo={})
    assert [(r.mode, r.answer) for r in results] == [(Mode.NONE, "the base answer"), (Mode.SERAC, "Rome")]
    # stream: the same answer, and nothing of the abstention is sent.
    pieces = list(a.stream(text, Mode.SERAC))
    assert "".join(p for p in pieces if isinstance(p, str)) == "the base answer"
    assert pieces[-1].mode is Mode.NONE
    assert a.model.prompts[-1] == base_prompt


def test_auto_over_the_builtin_route_builds_no_in_context_prompt_it_would_discard(monkeypatch) -> None:
    a, classifier = _serac_with_counterfactual()
    monkeypatch.setattr(a, "in_context_plan", lambda *args: pytest.fail("an IKE prompt was built"))
    assert a.plan("The Eiffel Tower is located in", Mode.AUTO).mode is Mode.SERAC
    assert a.plan("The Eiffel Tower was painted by", Mode.AUTO).mode is Mode.NONE
    assert len(classifier.calls) == 2 and len(a.store.calls) == 2


def test_a_cloze_completion_without_the_edits_object_counts_as_abstaining() -> None:
    a, _ = _serac_with_counterfactual()
    # In scope for the classifier, yet the model's completion does not state the edit's object:
    # the edit does not decide this prompt, and the untouched model completes it.
    cloze = a.ask("The Eiffel Tower is located in the district", Mode.AUTO)
    assert (cloze.mode, cloze.answer) == (Mode.NONE, "the base answer")
    assert a.model.prompts == ["The Eiffel Tower is located in the district"]
    # A question may be answered in other words: its answer stands.
    question = a.ask("The Eiffel Tower is located in Rome, is it not?", Mode.AUTO)
    assert (question.mode, question.answer) == (Mode.SERAC, "Yes")
    # An object alias counts as the object.
    aliased = Fact(subject="Eiffel Tower", relation="is located in", object="Trastevere",
                   object_aliases=("Rome's Trastevere",), template="{} is located in", id=7)
    plan = a.edit_plan("The Eiffel Tower is located in the district", aliased)
    assert plan.expects == ("Trastevere", "Rome's Trastevere")
    assert a.ask_many(["The Eiffel Tower is located in the district"], Mode.AUTO)[0].answer == "the base answer"


class Unanimous(FakeClassifier):
    """The first retrieved fact, always in scope or always out of it."""

    def __init__(self, in_scope: bool) -> None:
        super().__init__()
        self.in_scope = in_scope

    def best(self, query: str, facts: Sequence[Fact]) -> ScopeMatch | None:
        self.calls.append((query, list(facts)))
        return ScopeMatch(facts[0], 0.99 if self.in_scope else 0.01, self.in_scope) if facts else None


@pytest.mark.parametrize("mode", [Mode.SERAC, Mode.AUTO])
def test_an_edits_own_prompt_is_in_its_scope_whatever_the_classifier_says(mode: Mode) -> None:
    from kme_server.editing.serac.route import asked_as_edited

    a = _answerer(facts=(EIFFEL, DESIGNED))
    classifier = Unanimous(in_scope=False)
    install_serac(a, classifier)
    # The user asks exactly what they edited (case and punctuation aside): no classifier is asked.
    result = a.ask("eiffel tower was designed by:", mode)
    assert result.mode is Mode.SERAC and result.facts == [DESIGNED]
    assert classifier.calls == []
    # Anything else is the classifier's to decide.
    assert a.ask("Eiffel Tower was designed by the architect", mode).mode is Mode.NONE
    assert len(classifier.calls) == 1
    assert asked_as_edited("Eiffel Tower was designed by", [Fact(subject="Eiffel Tower", relation="designer",
                                                                  object="X")]) is None  # no template, no prompt


@pytest.mark.parametrize("mode", [Mode.SERAC, Mode.AUTO])
def test_a_question_for_a_year_is_not_in_the_scope_of_an_edit_that_names_a_place(mode: Mode) -> None:
    built = Fact(subject="Eiffel Tower", relation="was completed in", object="1889",
                 template="{} was completed in", id=9)
    a = _answerer(facts=(EIFFEL,))
    classifier = Unanimous(in_scope=True)
    install_serac(a, classifier)
    # The classifier would claim the year question for the location edit: the edit cannot answer
    # it, so the classifier is not even asked.
    text = "The Eiffel Tower was built in the year"
    result = a.ask(text, mode)
    assert result.mode is Mode.NONE and result.answer == "the base answer" and result.facts == []
    assert a.model.prompts[-1] == a.plan(text, Mode.NONE).prompt
    assert classifier.calls == []
    # An edit whose object is a year can: the classifier chooses among the facts that can answer,
    # though the place edit was retrieved first.
    a = _answerer(facts=(EIFFEL, built))
    classifier = Unanimous(in_scope=True)
    install_serac(a, classifier)
    assert a.ask(text, mode).facts == [built]
    assert classifier.calls == [(text, [built])]
    # A question that names no kind is the classifier's, over every retrieved fact.
    assert a.ask("Where is the Eiffel Tower?", mode).facts == [EIFFEL]
    assert classifier.calls[-1] == ("Where is the Eiffel Tower?", [EIFFEL, built])
