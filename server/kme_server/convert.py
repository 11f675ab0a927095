"""Conversions between kme.v1 messages and domain types; the only module that knows both."""
from __future__ import annotations

import base64
import dataclasses
import math
from enum import Enum
from typing import Any, Iterable, Mapping

from kme.v1 import answer_pb2, common_pb2, knowledge_pb2
from kme_server.answers import AskResult, CandidateScore, GenerationOptions, Hop, Mode
from kme_store.errors import FieldError
from kme_store.facts import EditRequest, Fact, FactStatus, Hit, ImportSummary, Limits, LineError, coerce_fact

_MODE_TO_PB = {
    Mode.NONE: answer_pb2.MODE_NONE,
    Mode.IN_CONTEXT: answer_pb2.MODE_IN_CONTEXT,
    Mode.SERAC: answer_pb2.MODE_SERAC,
    Mode.MULTI_HOP: answer_pb2.MODE_MULTI_HOP,
    Mode.WEIGHTS: answer_pb2.MODE_WEIGHTS,
    Mode.AUTO: answer_pb2.MODE_AUTO,
}
_MODE_FROM_PB = {v: k for k, v in _MODE_TO_PB.items()}

_STATUS_TO_PB = {
    FactStatus.CURRENT: common_pb2.FACT_STATUS_CURRENT,
    FactStatus.SUPERSEDED: common_pb2.FACT_STATUS_SUPERSEDED,
    FactStatus.DELETED: common_pb2.FACT_STATUS_DELETED,
    FactStatus.ROLLED_BACK: common_pb2.FACT_STATUS_ROLLED_BACK,
}
_STATUS_FROM_PB = {v: k for k, v in _STATUS_TO_PB.items()}


# -- facts --------------------------------------------------------------------------------------

def fact_to_pb(fact: Fact) -> common_pb2.Fact:
    msg = common_pb2.Fact(
        subject=fact.subject, relation=fact.relation, object=fact.object,
        object_aliases=list(fact.object_aliases), id=fact.id or 0, batch_id=fact.batch_id or "",
        status=_STATUS_TO_PB.get(fact.status, common_pb2.FACT_STATUS_UNSPECIFIED),
        created_at=fact.created_at or 0.0, updated_at=fact.updated_at or 0.0, text=fact.sentence())
    for name in ("relation_id", "template", "source", "supersedes"):
        value = getattr(fact, name)
        if value is not None:
            setattr(msg, name, value)
    return msg


def _opt(msg: Any, name: str) -> Any:
    return getattr(msg, name) if msg.HasField(name) else None


def input_to_domain(item: common_pb2.FactInput) -> Fact | EditRequest:
    """The domain object of one input item, unvalidated (see `validate_input`)."""
    kind = item.WhichOneof("item")
    if kind == "edit":
        e = item.edit
        return EditRequest(prompt=e.prompt, subject=e.subject, target_new=e.target_new,
                           ground_truth=_opt(e, "ground_truth"), relation_id=_opt(e, "relation_id"),
                           relation=_opt(e, "relation"), target_aliases=tuple(e.target_aliases),
                           source=_opt(e, "source"))
    if kind == "fact":
        f = item.fact
        return Fact(subject=f.subject, relation=f.relation, object=f.object, relation_id=_opt(f, "relation_id"),
                    object_aliases=tuple(f.object_aliases), template=_opt(f, "template"), source=_opt(f, "source"))
    raise FieldError("item", "must hold a fact or an edit request")


def validate_input(item: common_pb2.FactInput, index: int, limits: Limits,
                   prefix: str = "items") -> Fact | EditRequest:
    """`input_to_domain`, validated; a FieldError names the item: `items[3].edit.subject`."""
    kind = item.WhichOneof("item") or "item"
    try:
        domain = input_to_domain(item)
        coerce_fact(domain, limits)  # the store validates again; this pins the error to its item
    except FieldError as exc:
        field = f"{prefix}[{index}].{kind}" + (f".{exc.field}" if exc.field else "")
        raise FieldError(field, exc.reason) from None
    return domain


def input_to_record(item: common_pb2.FactInput, index: int, limits: Limits) -> tuple[int, Fact | LineError]:
    """One import record: the validated fact, or the error that refuses it (imports go on)."""
    try:
        return index, coerce_fact(input_to_domain(item), limits)
    except FieldError as exc:
        return index, LineError(line=index, field=exc.field, reason=exc.reason)


def status_from_pb(value: int) -> FactStatus:
    return _STATUS_FROM_PB.get(value, FactStatus.CURRENT)


def hit_to_pb(hit: Hit) -> knowledge_pb2.ScoredFact:
    return knowledge_pb2.ScoredFact(fact=fact_to_pb(hit.fact), score=hit.score, subject_match=hit.subject_match,
                                    relation_match=hit.relation_match, similarity=hit.similarity,
                                    mention=hit.mention or "")


def summary_to_pb(summary: ImportSummary) -> knowledge_pb2.ImportFactsResponse:
    return knowledge_pb2.ImportFactsResponse(
        batch_id=summary.batch_id or "", imported=summary.imported, unchanged=summary.unchanged,
        skipped=summary.skipped,
        errors=[knowledge_pb2.ItemError(index=e.line, field=e.field or "", reason=e.reason) for e in summary.errors])


def stats_to_pb(stats: Any) -> tuple[dict[str, float], dict[str, str]]:
    """Numeric and textual fields of the store's statistics, flattened with dots.

    Generic on purpose: the statistics object (a dataclass, pydantic model or mapping) may grow
    fields without the proto changing.
    """
    counts: dict[str, float] = {}
    info: dict[str, str] = {}
    for key, value in _flatten(_as_mapping(stats)):
        if isinstance(value, bool):
            info[key] = str(value).lower()
        elif isinstance(value, (int, float)) and math.isfinite(value):
            counts[key] = float(value)
        elif value is not None:
            info[key] = value.value if isinstance(value, Enum) else str(value)
    return counts, info


def _as_mapping(obj: Any) -> Mapping[str, Any]:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    if isinstance(obj, Mapping):
        return obj
    return {"value": obj}


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
            yield from _flatten(_as_mapping(value), name + ".")
        else:
            yield name, value


# -- paging -------------------------------------------------------------------------------------

def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{offset}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> int:
    """The offset a page token stands for; FieldError on anything this server did not issue."""
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        version, _, offset = text.partition(":")
        if version != "v1" or int(offset) < 0:
            raise ValueError(text)
        return int(offset)
    except ValueError:
        raise FieldError("page_token", "is not a token this server issued") from None


# -- answering ----------------------------------------------------------------------------------

def mode_from_pb(value: int) -> Mode | None:
    """The mode asked for; None when unspecified, so that the engine applies its default."""
    if value == answer_pb2.MODE_UNSPECIFIED:
        return None
    try:
        return _MODE_FROM_PB[value]
    except KeyError:
        raise FieldError("mode", f"unknown mode {value}") from None


def mode_to_pb(mode: Mode) -> int:
    return _MODE_TO_PB.get(mode, answer_pb2.MODE_UNSPECIFIED)


def options_from_pb(msg: answer_pb2.GenerationOptions, defaults: GenerationOptions = GenerationOptions()
                    ) -> GenerationOptions | None:
    """The decoding options asked for, unset ones from `defaults`; None when none was set, so
    that the engine applies its own."""
    if not (msg.HasField("max_new_tokens") or msg.stop or msg.HasField("temperature")):
        return None
    max_new = msg.max_new_tokens if msg.HasField("max_new_tokens") else defaults.max_new_tokens
    if max_new < 1:
        raise FieldError("options.max_new_tokens", "must be at least 1")
    temperature = msg.temperature if msg.HasField("temperature") else defaults.temperature
    if not math.isfinite(temperature) or temperature < 0:
        raise FieldError("options.temperature", "must be a finite number >= 0")
    stop = tuple(msg.stop) if msg.stop else defaults.stop
    return GenerationOptions(max_new_tokens=max_new, stop=stop, temperature=temperature)


def required_text(value: str, field: str) -> str:
    if not value.strip():
        raise FieldError(field, "is empty")
    return value


def ask_result_to_pb(result: AskResult) -> answer_pb2.AskResponse:
    return answer_pb2.AskResponse(
        answer=result.answer, mode=mode_to_pb(result.mode),
        facts=[answer_pb2.UsedFact(id=f.id or 0, text=f.sentence(), fact=fact_to_pb(f)) for f in result.facts],
        chain=[hop_to_pb(h) for h in result.chain], timings_ms=dict(result.timings_ms),
        prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens)


def hop_to_pb(hop: Hop) -> answer_pb2.Hop:
    msg = answer_pb2.Hop(subject=hop.subject, relation=hop.relation, object=hop.object, source=hop.source)
    if hop.fact_id is not None:
        msg.fact_id = hop.fact_id
    return msg


def scores_to_pb(scores: Iterable[CandidateScore]) -> answer_pb2.ScoreResponse:
    return answer_pb2.ScoreResponse(scores=[
        answer_pb2.CandidateScore(candidate=s.candidate, logprob=s.logprob, tokens=s.tokens) for s in scores])
