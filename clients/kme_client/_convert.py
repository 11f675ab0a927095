"""Client-side conversions between kme.v1 messages and the client's dataclasses."""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterable, Mapping, Sequence

from kme.v1 import answer_pb2, common_pb2, knowledge_pb2
from kme_client.errors import InvalidArgument
from kme_client.types import (AskResult, CandidateScore, Fact, Hit, Hop, ImportResult, ItemError, Mode,
                              ServerLimits, Stats, UsedFact)

_MODE_TO_PB = {
    Mode.NONE: answer_pb2.MODE_NONE, Mode.IN_CONTEXT: answer_pb2.MODE_IN_CONTEXT, Mode.SERAC: answer_pb2.MODE_SERAC,
    Mode.MULTI_HOP: answer_pb2.MODE_MULTI_HOP, Mode.WEIGHTS: answer_pb2.MODE_WEIGHTS, Mode.AUTO: answer_pb2.MODE_AUTO,
}
_MODE_FROM_PB = {v: k for k, v in _MODE_TO_PB.items()}
_STATUS_NAMES = {
    common_pb2.FACT_STATUS_CURRENT: "current", common_pb2.FACT_STATUS_SUPERSEDED: "superseded",
    common_pb2.FACT_STATUS_DELETED: "deleted", common_pb2.FACT_STATUS_ROLLED_BACK: "rolled_back",
}
_STATUS_VALUES = {v: k for k, v in _STATUS_NAMES.items()}

_FACT_TEXT = ("subject", "relation", "object")
_FACT_OPTIONAL = ("relation_id", "template", "source")
_EDIT_TEXT = ("prompt", "subject", "target_new")
_EDIT_OPTIONAL = ("ground_truth", "relation_id", "relation", "source")


def mode_to_pb(mode: str | Mode) -> int:
    try:
        return _MODE_TO_PB[Mode.parse(mode)]
    except ValueError as exc:
        raise InvalidArgument(str(exc), code="INVALID_ARGUMENT", violations=[("mode", str(exc))]) from None


def mode_from_pb(value: int) -> Mode:
    return _MODE_FROM_PB.get(value, Mode.AUTO)


def status_to_pb(status: str | None) -> int:
    if not status:
        return common_pb2.FACT_STATUS_UNSPECIFIED
    try:
        return _STATUS_VALUES[status.lower()]
    except KeyError:
        raise InvalidArgument(f"unknown status {status!r}", code="INVALID_ARGUMENT",
                              violations=[("status", f"one of {', '.join(_STATUS_VALUES)}")]) from None


def _fields_of(item: Any) -> Mapping[str, Any]:
    # Accepts mappings and objects with the fields as attributes (the client's own dataclasses,
    # kme_store's Fact and EditRequest) without importing kme_store.
    if isinstance(item, Mapping):
        return item
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
    return {name: getattr(item, name) for name in
            (*_EDIT_TEXT, *_EDIT_OPTIONAL, "target_aliases", *_FACT_TEXT, *_FACT_OPTIONAL, "object_aliases")
            if hasattr(item, name)}


def _text(data: Mapping[str, Any], name: str, where: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"{where}.{name} must be a string", code="INVALID_ARGUMENT",
                              violations=[(f"{where}.{name}", f"must be a string, not {type(value).__name__}")])
    return value


def _aliases(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return value.split("|")
    return [str(v) for v in value]


def item_to_pb(item: Any, index: int) -> common_pb2.FactInput:
    """A fact or edit request (mapping, client dataclass or kme_store object) as a FactInput.

    An item with `target_new` is an edit request; anything else is a fact. Missing required
    fields are left empty for the server to name in its error.
    """
    data = _fields_of(item)
    where = f"items[{index}]"
    if "target_new" in data:
        edit = common_pb2.EditRequest(**{n: _text(data, n, where) or "" for n in _EDIT_TEXT},
                                      target_aliases=_aliases(data.get("target_aliases") or data.get("object_aliases")))
        for name in _EDIT_OPTIONAL:
            value = _text(data, name, where)
            if value:
                setattr(edit, name, value)
        return common_pb2.FactInput(edit=edit)
    fact = common_pb2.Fact(**{n: _text(data, n, where) or "" for n in _FACT_TEXT},
                           object_aliases=_aliases(data.get("object_aliases")))
    for name in _FACT_OPTIONAL:
        value = _text(data, name, where)
        if value:
            setattr(fact, name, value)
    return common_pb2.FactInput(fact=fact)


def items_to_pb(items: Iterable[Any], start: int = 0) -> list[common_pb2.FactInput]:
    return [item_to_pb(item, start + i) for i, item in enumerate(items)]


_ITEM_INDEX = re.compile(r"^items\[(\d+)\]")


def shift_violations(violations: Sequence[tuple[str, str]], offset: int) -> list[tuple[str, str]]:
    """Violations of one chunk renumbered to the caller's whole list (`items[3]` -> `items[1003]`)."""
    return [(_ITEM_INDEX.sub(lambda m: f"items[{int(m.group(1)) + offset}]", f), d) for f, d in violations]


def fact_from_pb(msg: common_pb2.Fact) -> Fact:
    return Fact(subject=msg.subject, relation=msg.relation, object=msg.object, id=msg.id,
                relation_id=msg.relation_id if msg.HasField("relation_id") else None,
                object_aliases=tuple(msg.object_aliases),
                template=msg.template if msg.HasField("template") else None,
                source=msg.source if msg.HasField("source") else None, batch_id=msg.batch_id,
                status=_STATUS_NAMES.get(msg.status, "unspecified"), created_at=msg.created_at,
                updated_at=msg.updated_at, supersedes=msg.supersedes if msg.HasField("supersedes") else None,
                text=msg.text)


def hit_from_pb(msg: knowledge_pb2.ScoredFact) -> Hit:
    return Hit(fact=fact_from_pb(msg.fact), score=msg.score, subject_match=msg.subject_match,
               relation_match=msg.relation_match, similarity=msg.similarity, mention=msg.mention)


def import_from_pb(msg: knowledge_pb2.ImportFactsResponse) -> ImportResult:
    return ImportResult(batch_id=msg.batch_id, imported=msg.imported, unchanged=msg.unchanged, skipped=msg.skipped,
                        errors=[ItemError(index=e.index, field=e.field, reason=e.reason) for e in msg.errors])


def ask_request(text: str, mode: str | Mode, max_new_tokens: int | None, stop: Sequence[str] | str | None,
                temperature: float | None) -> answer_pb2.AskRequest:
    options = answer_pb2.GenerationOptions()
    if max_new_tokens is not None:
        options.max_new_tokens = max_new_tokens
    if stop:
        options.stop.extend([stop] if isinstance(stop, str) else list(stop))
    if temperature is not None:
        options.temperature = temperature
    return answer_pb2.AskRequest(text=text, mode=mode_to_pb(mode), options=options)


def ask_from_pb(msg: answer_pb2.AskResponse) -> AskResult:
    return AskResult(
        answer=msg.answer, mode=mode_from_pb(msg.mode),
        facts=[UsedFact(id=f.id, text=f.text, fact=fact_from_pb(f.fact) if f.HasField("fact") else None)
               for f in msg.facts],
        chain=[Hop(subject=h.subject, relation=h.relation, object=h.object, source=h.source,
                   fact_id=h.fact_id if h.HasField("fact_id") else None) for h in msg.chain],
        timings=dict(msg.timings_ms), prompt_tokens=msg.prompt_tokens, completion_tokens=msg.completion_tokens)


def scores_from_pb(msg: answer_pb2.ScoreResponse) -> list[CandidateScore]:
    return [CandidateScore(candidate=s.candidate, logprob=s.logprob, tokens=s.tokens) for s in msg.scores]


def stats_from_pb(msg: knowledge_pb2.StatsResponse) -> Stats:
    limits = ServerLimits(max_batch=msg.limits.max_batch, max_message_bytes=msg.limits.max_message_bytes,
                          max_queue=msg.limits.max_queue)
    return Stats(counts=dict(msg.counts), info=dict(msg.info), limits=limits, model=msg.model,
                 engine_ready=msg.engine_ready)


def rollback_request(target: int | str) -> knowledge_pb2.RollbackRequest:
    """A fact id (an int) or a batch id (a string)."""
    if isinstance(target, int) and not isinstance(target, bool):
        return knowledge_pb2.RollbackRequest(fact_id=target)
    return knowledge_pb2.RollbackRequest(batch_id=str(target))
