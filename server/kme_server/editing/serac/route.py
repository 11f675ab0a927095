"""Registering SERAC on an Answerer: mode SERAC itself, and AUTO's scope decision."""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from kme_store.facts import Fact

from kme_server.answering import Answerer, Plan
from kme_server.answers import Mode
from kme_server.editing.answer_kind import can_answer
from kme_server.matching import normalize

if TYPE_CHECKING:
    # Only for the type: scope.py loads torch, which a route given a fake classifier does not need.
    from kme_server.editing.serac.scope import ScopeMatch

log = logging.getLogger(__name__)


class ScopeDecider(Protocol):
    """The part of ScopeClassifier the route uses (tests pass a fake)."""

    def best(self, query: str, facts: Sequence[Fact]) -> ScopeMatch | None:
        ...


def install_serac(answerer: Answerer, classifier: ScopeDecider) -> None:
    """Serve SERAC with the scope classifier, and let AUTO route single-hop questions through it.

    SERAC retrieves facts and asks the classifier which one, if any, the question is in the scope
    of. A question that repeats an edit's own prompt is in its scope without asking; a question
    that asks for a year, a date or a count is never in the scope of an edit whose object states
    no number, so the classifier chooses among the other facts only (editing/answer_kind.py). In
    scope: the counterfactual model, here the base model prompted with that one edit
    (Answerer.edit_plan; Plan.mode SERAC). Otherwise: exactly NONE's plan (Plan.mode NONE), so
    that a question no edit governs gets exactly the base answer.

    AUTO gets SERAC's decision for every question its previous route would answer in context. A
    multi-hop walk installed after this asks `scope_gate(answerer)` first, so that a question in
    the scope of one edit is never walked (a plan the previous route answers by a walk is kept).
    """
    previous = answerer.route(Mode.AUTO)

    def decide(text: str, facts: list[Fact], timings: dict[str, float]) -> Plan:
        start = time.perf_counter()
        governing = asked_as_edited(text, facts)
        match = None
        if governing is None:
            # A year asked of an edit that names a place: the classifier would match the subject
            # and the frame, but the edit cannot answer the question. Such facts are not offered,
            # so another retrieved fact can still govern, and none left means no classifier call.
            candidates = [f for f in facts if can_answer(text, f.object)]
            if len(candidates) < len(facts):
                log.debug("scope: %d of %d facts cannot answer %r (not the kind asked for)",
                          len(facts) - len(candidates), len(facts), text)
            match = classifier.best(text, candidates) if candidates else None
            if match is not None and match.in_scope:
                governing = match.fact
        scope_ms = (time.perf_counter() - start) * 1000.0
        if governing is not None:
            plan = answerer.edit_plan(text, governing)
            plan.mode = Mode.SERAC
        else:
            plan = answerer.plan(text, Mode.NONE)
        plan.timings_ms = {**timings, "scope": scope_ms, **plan.timings_ms}
        if match is not None:
            log.debug("scope %.3f (%s) for %r -> fact %s", match.probability,
                      "in" if match.in_scope else "out", text, match.fact.id)
        return plan

    def serac(text: str) -> Plan:
        start = time.perf_counter()
        hits = answerer.store.retrieve(text, k=answerer.settings.k, threshold=answerer.settings.min_score)
        retrieve_ms = (time.perf_counter() - start) * 1000.0
        return decide(text, [hit.fact for hit in hits], {"retrieve": retrieve_ms})

    def auto(text: str) -> Plan:
        if previous is None or answerer.is_builtin(previous):
            # The built-in AUTO is IN_CONTEXT when anything is retrieved, else NONE: SERAC's own
            # route decides the same, without building the IKE prompt it would throw away.
            return serac(text)
        plan = previous(text)
        if plan.mode is Mode.MULTI_HOP:
            return plan
        # The previous AUTO already retrieved: its IN_CONTEXT plan carries the retrieved facts, and
        # its NONE plan means nothing was retrieved. Any other plan: retrieve again to be sure.
        if plan.mode is Mode.IN_CONTEXT:
            timings = {k: v for k, v in plan.timings_ms.items() if k != "prompt"}
            return decide(text, list(plan.facts), timings)
        if plan.mode is Mode.NONE and not plan.facts:
            return plan
        return serac(text)

    answerer.register_route(Mode.SERAC, serac)
    answerer.register_route(Mode.AUTO, auto)


def asked_as_edited(text: str, facts: Sequence[Fact]) -> Fact | None:
    """The first of `facts` whose own prompt the question repeats (case and punctuation aside).

    An edit's own prompt is in its scope by definition: no classifier may overrule a user who asks
    exactly what they edited. (Measured: a retrained classifier rejected 7 of CounterFact's edit
    prompts of the form "Ruth Laredo, the", which its predecessor accepted.)
    """
    asked = normalize(text)
    for fact in facts:
        if fact.template and normalize(fact.template.format(fact.subject)) == asked:
            return fact
    return None


def scope_gate(answerer: Answerer) -> Callable[[str], Plan | None]:
    """SERAC's plan for a question in the scope of a stored edit, else None (needs install_serac).

    AUTO's multi-hop route asks this before walking a chain it read: a single-hop prompt that
    reads like a chain ("X is my favorite product out of everything created by") is in the scope
    of X's edit, while a chain through an edit ("the capital of the country of citizenship of X")
    is not: the classifier is trained to reject those (editing/serac/data.py, THROUGH_OBJECT).
    """

    def gate(text: str) -> Plan | None:
        plan = answerer.plan(text, Mode.SERAC)
        return plan if plan.mode is Mode.SERAC else None

    return gate


__all__ = ["ScopeDecider", "asked_as_edited", "install_serac", "scope_gate"]
