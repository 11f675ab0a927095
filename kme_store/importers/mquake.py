"""MQuAKE multi-hop editing cases: their requested rewrites, and optionally their original chains."""
from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kme_store.errors import FieldError
from kme_store.facts import Limits, LineError
from kme_store.importers.base import PathLike, Record
from kme_store.importers.jsonarray import JSONArrayImporter, first_string


@dataclass(frozen=True, slots=True)
class _Hop:
    """One Wikidata triple of a case's chain, with its single-hop probe when the data has one."""

    subject: str
    relation: str  # the relation's Wikidata label, e.g. "country of citizenship"
    object: str
    relation_id: str
    aliases: tuple[str, ...]  # the object's aliases, from the hop's answer_alias
    cloze: str | None  # "Marc Cherry is a citizen of"


class MQuAKEImporter(JSONArrayImporter):
    """Reads MQuAKE (`mquake-cf*.json`): each `requested_rewrite` becomes an edit request.

    An edit's relation label is taken from the case's chain (`orig.triples_labeled`, whose ids
    are in `orig.triples`) and its aliases from the new chain's single hop that answers with the
    edit's target. With `world=True` the original chains are imported too, as world facts, and
    all of them come before every edit: a later case's chain can hold the original value of a
    hop that an earlier case edits, and importing it after that edit would supersede the edit.
    That costs a second pass over the file, not memory. `line` is the case's 1-based index.
    """

    format = "mquake"

    def __init__(self, limits: Limits, source: str | None = None, world: bool = False) -> None:
        super().__init__(limits, source)
        self.world = world

    def records(self, path: PathLike) -> Iterator[Record]:
        if self.world:
            complete = yield from self.read(path, self.world_facts)
            if not complete:
                return  # the first pass has reported why the file cannot be read
        yield from self.read(path, self.edits)

    def edits(self, index: int, case: dict[str, Any]) -> Iterator[Record]:
        """The case's requested rewrites as edit requests, in order."""
        rewrites = case.get("requested_rewrite")
        if not isinstance(rewrites, list) or not rewrites:
            yield index, LineError(index, "requested_rewrite", "must be a non-empty list of rewrites")
            return
        # The chains only add labels and aliases; a case without usable ones still yields its edits.
        old_hops, new_hops = _safe_chain(case, new=False), _safe_chain(case, new=True)
        for k, rewrite in enumerate(rewrites):
            where = f"requested_rewrite[{k}]"
            if not isinstance(rewrite, dict):
                yield index, LineError(index, where, "must be an object")
                continue
            subject, relation_id = rewrite.get("subject"), rewrite.get("relation_id")
            target = first_string(rewrite.get("target_new"))
            yield self.to_record(index, {
                # The prompt is kept as the template ("{} is a citizen of"), which fact validation
                # takes as is, rather than formatted and searched for the subject again.
                "prompt": rewrite.get("prompt"),
                "subject": subject,
                "relation_id": relation_id,
                "relation": _label(old_hops + new_hops, subject, relation_id),
                "target_new": target,
                "ground_truth": first_string(rewrite.get("target_true")),
                "object_aliases": _aliases(new_hops, subject, relation_id, target, self.limits),
            }, _names(where, {"target_new": "target_new.str", "ground_truth": "target_true.str"}))

    def world_facts(self, index: int, case: dict[str, Any]) -> Iterator[Record]:
        """The case's original chain (`orig.triples_labeled` with ids from `orig.triples`) as facts."""
        try:
            hops = _chain(case, new=False)
        except FieldError as exc:
            yield index, LineError(index, exc.field, exc.reason)
            return
        for i, hop in enumerate(hops):
            template = None
            if hop.cloze and hop.subject in hop.cloze and "{" not in hop.cloze and "}" not in hop.cloze:
                template = hop.cloze.replace(hop.subject, "{}", 1)
            where = f"orig.triples_labeled[{i}]"
            yield self.to_record(index, {
                "subject": hop.subject, "relation": hop.relation, "object": hop.object,
                "relation_id": hop.relation_id, "template": template,
                "object_aliases": _usable(hop.aliases, hop.object, self.limits),
            }, {"subject": f"{where}[0]", "relation": f"{where}[1]", "object": f"{where}[2]",
                "relation_id": f"orig.triples[{i}][1]", "template": f"single_hops[{i}].cloze",
                "object_aliases": f"single_hops[{i}].answer_alias"})


def _names(prefix: str, renamed: dict[str, str]) -> dict[str, str]:
    fields = ("prompt", "subject", "relation_id", "relation", "target_new", "ground_truth", "object_aliases")
    return {name: f"{prefix}.{renamed.get(name, name)}" for name in fields}


def _chain(case: dict[str, Any], new: bool) -> list[_Hop]:
    """The original (or, with `new`, the edited) chain of a case; raises FieldError if malformed."""
    labeled_key, ids_key, hops_key = (("new_triples_labeled", "new_triples", "new_single_hops") if new
                                      else ("triples_labeled", "triples", "single_hops"))
    orig = case.get("orig")
    if not isinstance(orig, dict):
        raise FieldError("orig", "must be an object holding the case's chains")
    labeled, ids = orig.get(labeled_key), orig.get(ids_key)
    if not _triples(labeled) or not _triples(ids) or len(labeled) != len(ids):
        raise FieldError(f"orig.{labeled_key}", f"must be a list of [subject, relation, object] as long as orig.{ids_key}")
    probes = case.get(hops_key)
    if not isinstance(probes, list) or len(probes) != len(labeled):
        probes = [None] * len(labeled)  # the probes only add aliases and wording
    hops = []
    for (subject, relation, obj), (_, relation_id, _), probe in zip(labeled, ids, probes):
        aliases: tuple[str, ...] = ()
        cloze = None
        if isinstance(probe, dict):
            cloze = probe.get("cloze") if isinstance(probe.get("cloze"), str) else None
            # An answer's aliases belong to the hop's object only when the hop answers with it.
            if probe.get("answer") == obj and isinstance(probe.get("answer_alias"), list):
                aliases = tuple(probe["answer_alias"])
        hops.append(_Hop(subject, relation, obj, relation_id, aliases, cloze))
    return hops


def _triples(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(t, list) and len(t) == 3 and all(isinstance(x, str) for x in t) for t in value)


def _safe_chain(case: dict[str, Any], new: bool) -> list[_Hop]:
    try:
        return _chain(case, new)
    except FieldError:
        return []


def _label(hops: list[_Hop], subject: Any, relation_id: Any) -> str | None:
    """The Wikidata label of the edited relation, preferring the hop about the same subject."""
    matching = [hop for hop in hops if hop.relation_id == relation_id]
    for hop in matching:
        if hop.subject == subject:
            return hop.relation
    return matching[0].relation if matching else None


def _aliases(new_hops: list[_Hop], subject: Any, relation_id: Any, target: Any, limits: Limits) -> list[str]:
    for hop in new_hops:
        if (hop.subject, hop.relation_id, hop.object) == (subject, relation_id, target):
            return _usable(hop.aliases, hop.object, limits)
    return []


def _usable(aliases: tuple[str, ...], obj: str, limits: Limits) -> list[str]:
    """The aliases that validation would accept, at most `limits.max_aliases` of them.

    Aliases are extras the benchmark supplies, not the record's claim, so a bad one (a lone
    surrogate, an over-long string) is dropped rather than costing the whole fact.
    """
    out: list[str] = []
    for alias in aliases:
        if (isinstance(alias, str) and alias.strip() and alias != obj and alias not in out
                and len(alias) <= limits.max_field_chars
                and not any(unicodedata.category(ch) == "Cs" for ch in alias)):
            out.append(alias)
    return out[:limits.max_aliases]
