"""SERAC's route on an Answerer: scope decisions with a fake classifier, the fake model and store."""
from __future__ import annotations

from typing import Sequence

import pytest

from kme_store.errors import FieldError
from kme_store.facts import Fact

from kme_server.answering import Plan
from kme_server.answers import Mode
from kme_server.editing.serac.route import install_serac
from kme_server.editing.serac.scope import ScopeMatch
from test_answering import EIFFEL, _answerer

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
    text = "The Eiffel Tower was built in the year"
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
