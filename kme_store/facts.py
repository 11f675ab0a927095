"""Domain types of the store: facts, edit requests, hits, and the validation that guards them."""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Mapping

from kme_store.errors import FieldError

# A Wikidata property id such as P27. Anything else given as relation_id is refused, because a
# relation id is what makes two differently worded relations the same one.
_RELATION_ID = re.compile(r"^P[1-9][0-9]*$")
_SPACE = re.compile(r"\s+")


def relation_key_of(relation: str) -> str:
    """What identifies a relation named by the user: a Wikidata id as is, a label normalized."""
    relation = relation.strip()
    return relation if _RELATION_ID.match(relation) else normalize_name(relation)


def normalize_name(text: str) -> str:
    """Case- and space-insensitive key of an entity name or alias (NFKC, casefold, one space)."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


class FactStatus(str, Enum):
    """Where a fact stands in its (subject, relation) history."""

    CURRENT = "current"  # the answer the store gives now
    SUPERSEDED = "superseded"  # replaced by a later edit; comes back if that edit is rolled back
    DELETED = "deleted"  # removed by delete(); never comes back
    ROLLED_BACK = "rolled_back"  # its edit or batch was rolled back


@dataclass(frozen=True, slots=True)
class Fact:
    """A (subject, relation, object) triple with what the store knows about it.

    `relation_id` (a Wikidata property id) identifies the relation whatever its label; without it
    the relation is identified by its label, case-insensitively. `template` is the relation's cloze
    form with `{}` for the subject (`"{} is a citizen of"`). The fields from `id` on are set by the
    store and ignored on input.
    """

    subject: str
    relation: str
    object: str
    relation_id: str | None = None
    object_aliases: tuple[str, ...] = ()
    template: str | None = None
    source: str | None = None
    id: int | None = None
    batch_id: str | None = None
    status: FactStatus = FactStatus.CURRENT
    created_at: float | None = None
    updated_at: float | None = None
    supersedes: int | None = None

    @property
    def relation_key(self) -> str:
        """What identifies the relation: its Wikidata id when known, else its normalized label."""
        return self.relation_id or normalize_name(self.relation)

    def sentence(self) -> str:
        """The fact as one English sentence, from the cloze template when there is one."""
        end = "" if self.object.endswith((".", "!", "?")) else "."
        if self.template:
            return f"{self.template.format(self.subject).rstrip()} {self.object}{end}"
        # Wikidata labels name the attribute ("country of citizenship"), so this reads well.
        return f"The {self.relation} of {self.subject} is {self.object}{end}"

    def with_store_fields(self, **changes: Any) -> Fact:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class StoredRelation:
    """A relation the store has held facts of: its key (see Fact.relation_key), its label, and the
    cloze template of the first fact that gave one."""

    key: str
    label: str
    template: str | None = None


@dataclass(frozen=True, slots=True)
class EditRequest:
    """The edit request of ROME and EasyEdit: `prompt` states the relation with the subject in it.

    `prompt` may be a cloze ("The mother tongue of Danielle Darrieux is") or a question ("What is
    the mother tongue of Danielle Darrieux?"), with the subject spelled as in `subject`, or with
    `{}` standing for it.
    """

    prompt: str
    subject: str
    target_new: str
    ground_truth: str | None = None
    relation_id: str | None = None
    relation: str | None = None
    target_aliases: tuple[str, ...] = ()
    source: str | None = None

    def template(self) -> str:
        """The prompt with `{}` where the subject stands (first occurrence, case-insensitive)."""
        if "{}" in self.prompt:
            return self.prompt
        at = self.prompt.casefold().find(self.subject.casefold())
        if at < 0:
            raise FieldError("prompt", f"does not contain the subject {self.subject!r}")
        return self.prompt[:at] + "{}" + self.prompt[at + len(self.subject):]

    def to_fact(self) -> Fact:
        """The fact this edit asserts. The relation is named by the template unless given."""
        template = self.template()
        label = self.relation or _relation_label_from_template(template)
        return Fact(subject=self.subject, relation=label, object=self.target_new,
                    relation_id=self.relation_id, object_aliases=self.target_aliases,
                    template=template, source=self.source)


def _relation_label_from_template(template: str) -> str:
    # "{} is a citizen of" -> "is a citizen of"; "The mother tongue of {} is" -> "the mother
    # tongue of is". Crude, but stable: the label is a key, and the template keeps the wording.
    words = template.replace("{}", " ").replace("?", " ")
    return _SPACE.sub(" ", words).strip() or template


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved fact and why it was retrieved."""

    fact: Fact
    score: float
    subject_match: float = 0.0  # 1.0 exact name or alias in the query, less for fuzzy mentions
    relation_match: float = 0.0  # similarity of the question to the relation
    similarity: float = 0.0  # similarity of the question to the fact as a whole
    mention: str | None = None  # the words of the query that named the subject


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on input fields; a field over its bound is refused, never truncated."""

    max_field_chars: int = 1000
    max_aliases: int = 64


@dataclass(slots=True)
class ImportSummary:
    """What an import did: counts, the batch, and the refused lines with their reasons."""

    batch_id: str
    imported: int = 0  # facts newly stored
    unchanged: int = 0  # lines whose fact was already stored (idempotent re-import)
    skipped: int = 0  # lines refused
    errors: list[LineError] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LineError:
    """A refused input line: where, which field, and why."""

    line: int
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", field {self.field!r}" if self.field else "")
        return f"{where}: {self.reason}"


def _check_text(name: str, value: Any, limits: Limits, *, required: bool = True) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            raise FieldError(name, "is missing")
        return None
    if not isinstance(value, str):
        raise FieldError(name, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise FieldError(name, "is empty")
    if len(value) > limits.max_field_chars:
        raise FieldError(name, f"is {len(value)} characters long; the limit is {limits.max_field_chars}")
    if any(unicodedata.category(ch) == "Cs" for ch in value):
        raise FieldError(name, "is not valid UTF-8 text (it holds a lone surrogate)")
    return value.strip()


def _check_aliases(name: str, value: Any, limits: Limits) -> tuple[str, ...]:
    if value in (None, "", []):
        return ()
    if isinstance(value, str):
        value = [v for v in value.split("|")]
    if not isinstance(value, (list, tuple)):
        raise FieldError(name, "must be a list of strings")
    if len(value) > limits.max_aliases:
        raise FieldError(name, f"has {len(value)} aliases; the limit is {limits.max_aliases}")
    out = []
    for i, alias in enumerate(value):
        checked = _check_text(f"{name}[{i}]", alias, limits)
        if checked and checked not in out:
            out.append(checked)
    return tuple(out)


def _check_relation_id(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not _RELATION_ID.match(value.strip()):
        raise FieldError("relation_id", f"must be a Wikidata property id such as 'P27', not {value!r}")
    return value.strip()


def fact_from_mapping(data: Mapping[str, Any], limits: Limits = Limits(), source: str | None = None) -> Fact:
    """Validate a mapping as a fact or an edit request and return the fact it asserts.

    A mapping with `target_new` is an edit request (`prompt`, `subject`, `target_new`,
    `ground_truth?`, `relation_id?`); otherwise it is a fact (`subject`, `relation`, `object`,
    `relation_id?`, `object_aliases?`, `template?`). Raises FieldError naming the first bad field.
    """
    if not isinstance(data, Mapping):
        raise FieldError(None, f"must be an object, not {type(data).__name__}")
    src = data.get("source", source)
    if "target_new" in data:
        edit = EditRequest(
            prompt=_check_text("prompt", data.get("prompt"), limits),
            subject=_check_text("subject", data.get("subject"), limits),
            target_new=_check_text("target_new", data.get("target_new"), limits),
            ground_truth=_check_text("ground_truth", data.get("ground_truth"), limits, required=False),
            relation_id=_check_relation_id(data.get("relation_id")),
            relation=_check_text("relation", data.get("relation"), limits, required=False),
            target_aliases=_check_aliases("object_aliases", data.get("object_aliases"), limits),
            source=src,
        )
        return edit.to_fact()
    template = _check_text("template", data.get("template"), limits, required=False)
    if template is not None and "{}" not in template:
        raise FieldError("template", "must contain '{}' where the subject goes")
    return Fact(
        subject=_check_text("subject", data.get("subject"), limits),
        relation=_check_text("relation", data.get("relation"), limits),
        object=_check_text("object", data.get("object"), limits),
        relation_id=_check_relation_id(data.get("relation_id")),
        object_aliases=_check_aliases("object_aliases", data.get("object_aliases"), limits),
        template=template,
        source=src,
    )


def coerce_fact(item: Fact | EditRequest | Mapping[str, Any], limits: Limits = Limits()) -> Fact:
    """Accept a Fact, an EditRequest or a mapping of either, validated, as a Fact."""
    if isinstance(item, EditRequest):
        item = {"prompt": item.prompt, "subject": item.subject, "target_new": item.target_new,
                "ground_truth": item.ground_truth, "relation_id": item.relation_id,
                "relation": item.relation, "object_aliases": list(item.target_aliases), "source": item.source}
    elif isinstance(item, Fact):
        item = {"subject": item.subject, "relation": item.relation, "object": item.object,
                "relation_id": item.relation_id, "object_aliases": list(item.object_aliases),
                "template": item.template, "source": item.source}
    return fact_from_mapping(item, limits)


def finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0
