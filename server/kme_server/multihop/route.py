"""Registering multi-hop answering on an Answerer: MULTI_HOP itself, and AUTO's multi-hop policy."""
from __future__ import annotations

import logging
import time
from typing import Callable

from kme_server.answering import Answerer, Plan, Route
from kme_server.answers import Mode
from kme_server.multihop.chain import ChainParse
from kme_server.multihop.pipeline import MultiHop

log = logging.getLogger(__name__)


def install(answerer: Answerer, multihop: MultiHop, gate: Callable[[str], Plan | None] | None = None) -> None:
    """Serve MULTI_HOP with the walk, and let AUTO walk the questions recognized as multi-hop.

    MULTI_HOP walks whatever chain it reads (one hop included) and falls back to AUTO's previous
    route when it reads none. AUTO walks only a chain of two or more hops read with confidence
    from a question that does not ask one relation (MultiHop.is_multi_hop), or a
    one-hop question that the store answers only through an unnamed hop (MultiHop.is_bridged);
    every other question (single-hop ones included) goes the way it went before. `gate`, if
    given, sees a question before AUTO walks it and may answer it instead (SERAC's scope decision:
    a prompt in the scope of one edit is single-hop however it reads), except where the store
    decides every hop of the chain: then the graph answers, since a scope classifier matching the
    question to one edit of its subject cannot tell "what sport does X play" from the edit of X's
    position, and the stored chain (X's position, then its sport) can.

    AUTO keeps a walk only when at least one hop came from the store. A walk made of model hops
    alone is the model's own knowledge, chained: no stored fact bears on it, and AUTO promises the
    untouched answer for a question no stored fact governs (the locality of a prompt about a
    subject the store does not know). Such a question goes the way it went before.
    """
    previous = _current_route(answerer, Mode.AUTO)

    def fallback(text: str) -> Plan:
        if previous is None:
            return answerer.plan(text, Mode.NONE)
        return previous(text)

    def multi_hop(text: str) -> Plan:
        plan = multihop.plan(text)
        return plan if plan is not None else fallback(text)

    def auto(text: str) -> Plan:
        start = time.perf_counter()
        parse = multihop.parse(text)
        parse_ms = (time.perf_counter() - start) * 1000.0
        chained = multihop.is_multi_hop(parse, text)
        if chained or multihop.is_bridged(parse):
            stored = multihop.plan(text, parse, parse_ms, store_only=True)
            if stored is not None:
                return stored
        if chained:
            gated = gate(text) if gate is not None else None
            if gated is not None:
                gated.timings_ms["parse"] = parse_ms
                if gated.fallback is not None:
                    # Should the counterfactual model abstain, the question is a chain after all.
                    gated.fallback = lambda: walk(text, parse, parse_ms) or answerer.plan(text, Mode.NONE)
                return gated
            plan = walk(text, parse, parse_ms)
            if plan is not None:
                return plan
        plan = fallback(text)
        plan.timings_ms["parse"] = parse_ms
        return plan

    def walk(text: str, parse: ChainParse | None, parse_ms: float) -> Plan | None:
        plan = multihop.plan(text, parse, parse_ms)
        return plan if plan is not None and uses_store(plan) else None

    answerer.register_route(Mode.MULTI_HOP, multi_hop)
    answerer.register_route(Mode.AUTO, auto)


def uses_store(plan: Plan) -> bool:
    """Whether a walk's plan used at least one stored fact (a hop whose source is the store)."""
    return any(hop.source == "store" for hop in plan.chain)


def _current_route(answerer: Answerer, mode: Mode) -> Route | None:
    # Answerer has no public accessor for a registered route yet (see the report); read its table.
    getter = getattr(answerer, "route", None)
    if callable(getter):
        return getter(mode)
    return getattr(answerer, "_routes", {}).get(mode)
