"""The relation catalogue: Wikidata id -> label, cloze template, question and noun phrasings."""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from kme_store.facts import Fact, StoredRelation, normalize_name

from kme_server.matching import normalize
from kme_server.multihop.settings import MultiHopSettings

log = logging.getLogger(__name__)

_WORD = re.compile(r"[a-z]+")
# Words that carry no relation meaning; the rest of a phrasing are its cues.
STOPWORDS = frozenset(
    "a an the of in on at to by for from is was are were be been which what who whom whose where when "
    "how does do did has have had that this there their its his her he she it as with into does "
    "located current name type kind".split())


def stem(word: str) -> str:
    """A crude English stem, so that "citizen" meets "citizenship" and "founded" meets "founder"."""
    for suffix in ("ship", "ing", "ers", "er", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def cue_stems(text: str) -> frozenset[str]:
    """Stems of the content words of a text."""
    return frozenset(stem(w) for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in STOPWORDS)


@dataclass(frozen=True, slots=True)
class Relation:
    """One relation and its phrasings; `{}` marks the subject in every template."""

    key: str  # the Wikidata id, or the normalized label of a relation known only by its label
    label: str
    cloze: str  # "{} is a citizen of"
    question: str  # "What is the country of citizenship of {}?"
    noun: str  # "the country of citizenship of {}", nestable into another relation's phrasing
    examples: str = ""  # few-shot "Q: ... A: ..." lines, when the data has them
    cues: frozenset[str] = field(default_factory=frozenset)

    @property
    def wikidata_id(self) -> str | None:
        return self.key if self.key[:1] == "P" and self.key[1:].isdigit() else None

    def phrasings(self) -> list[str]:
        """Every wording of the relation without its subject, for embedding."""
        return list(dict.fromkeys(p.replace("{}", "").replace("  ", " ").strip(" ?")
                                  for p in (self.label, self.noun, self.cloze, self.question)))


def _noun_from_label(label: str) -> str:
    return f"the {label.split(' / ')[0]} of {{}}"


def relation_from_store(stored: StoredRelation) -> Relation:
    """A relation known only from the store: its label, and its template when it has one."""
    noun = _noun_from_label(stored.label)
    cloze = stored.template or f"The {stored.label} of {{}} is"
    question = f"What is {noun}?"
    return Relation(stored.key, stored.label, cloze, question, noun,
                    cues=cue_stems(" ".join((stored.label, cloze))))


class RelationCatalogue:
    """Relations by key, from MQuAKE's template files and Wikidata labels, plus the store's own.

    Built once per answerer; `learn_stored()` adds the store's relations (a user's relation that
    no template file names), so the catalogue grows with the store it serves, and `for_fact()`
    one met in a stored fact.
    """

    def __init__(self, relations: Iterable[Relation] = ()) -> None:
        self._by_key: dict[str, Relation] = {}
        # The normalized words around the subject slot of every cloze and question, so that
        # `asks_one` finds a question that is one relation's own prompt without normalizing every
        # template for every question (17 ms a question with 2,000 relations).
        self._frames: set[tuple[str, str]] = set()
        self._unframed: list[str] = []  # templates whose slot runs into a word ("{}s"): compared whole
        for rel in relations:
            self._add(rel)

    def _add(self, rel: Relation) -> None:
        self._by_key[rel.key] = rel
        for template in (rel.cloze, rel.question):
            frame = _frame(template)
            if frame is None:
                self._unframed.append(template)
            else:
                self._frames.add(frame)

    @classmethod
    def from_settings(cls, settings: MultiHopSettings) -> RelationCatalogue:
        """Read the template files and labels named by `settings`; missing files give fewer relations."""
        labels = _read_labels(settings.relation_labels) if settings.relation_labels else {}
        cloze, questions, examples = {}, {}, {}
        if settings.templates_dir is not None:
            base = Path(settings.templates_dir)
            cloze = _read_json(base / "cloze_templates.json")
            questions = _read_json(base / "question_templates.json")
            examples = _read_json(base / "rel-prompts.json")
        relations = []
        for pid, template in cloze.items():
            label = labels.get(pid) or _label_from_question(questions.get(pid, "")) or pid
            noun = settings.noun_phrases.get(pid) or _noun_from_question(questions.get(pid, "")) or _noun_from_label(label)
            cz = _placeholder(template).removesuffix("__").rstrip()
            question = _placeholder(questions.get(pid, "")) or f"What is {noun}?"
            relations.append(Relation(pid, label, cz, question, noun, examples.get(pid, ""),
                                      cue_stems(" ".join((label, noun, cz, question)))))
        log.info("relation catalogue: %d relations from %s", len(relations), settings.templates_dir)
        return cls(relations)

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self):
        return iter(list(self._by_key.values()))

    def get(self, key: str) -> Relation | None:
        return self._by_key.get(key) or self._by_key.get(normalize_name(key))

    def for_fact(self, fact: Fact) -> Relation:
        """The catalogue's relation of a stored fact, learning it when the catalogue lacks it."""
        # Called for every fact the beam can follow from every state it keeps: a plain lookup
        # first, so that a known relation costs no StoredRelation.
        known = self._by_key.get(fact.relation_key)
        if known is None:
            self.learn_stored([StoredRelation(fact.relation_key, fact.relation, fact.template)])
            known = self._by_key[fact.relation_key]
        return known

    def learn_stored(self, relations: Iterable[StoredRelation]) -> None:
        """Add the store's relations that the catalogue lacks (KnowledgeStore.relations())."""
        for stored in relations:
            if stored.key not in self._by_key:
                self._add(relation_from_store(stored))

    def asks_one(self, question: str, subject: str) -> bool:
        """Whether `question` is, case and punctuation aside, the cloze or the question of a
        relation of the catalogue with `subject` in its slot."""
        asked, name = normalize(question), normalize(subject)
        if name:
            padded, needle = f" {asked} ", f" {name} "
            at = padded.find(needle)
            while at >= 0:
                if (padded[:at].strip(), padded[at + len(needle):].strip()) in self._frames:
                    return True
                at = padded.find(needle, at + 1)
        frames = self._unframed if name else [t for r in self for t in (r.cloze, r.question)]
        return any(asked == normalize(t.replace("{}", subject)) for t in frames)


def _frame(template: str) -> tuple[str, str] | None:
    """The normalized words before and after the subject slot of a template; None where a word
    runs into the slot, since only a slot between non-word characters (or at an end) normalizes
    apart from whatever subject fills it."""
    before, _, after = template.partition("{}")
    if before[-1:].isalnum() or after[:1].isalnum():
        return None
    return normalize(before), normalize(after)


def _placeholder(template: str) -> str:
    # MQuAKE marks the subject with [X]; the store and str.format use {}.
    return template.replace("[X]", "{}")


def _noun_from_question(question: str) -> str | None:
    # "What is the capital of [X]?" / "Who is the author of [X]?" -> "the capital of {}"
    m = re.match(r"^(?:What|Who) is (the .+ (?:of|in) \[X\])\?$", question)
    return _placeholder(m.group(1)) if m else None


def _label_from_question(question: str) -> str | None:
    m = re.match(r"^(?:What|Who) is the (.+) (?:of|in) \[X\]\?$", question)
    return m.group(1) if m else None


def _read_json(path: Path) -> dict[str, str]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        log.warning("relation catalogue: cannot read %s (%s)", path, exc)
        return {}


def _read_labels(path: Path) -> dict[str, str]:
    """Wikidata labels from a SPARQL JSON result (property URI -> label)."""
    try:
        rows = json.loads(Path(path).read_text())["results"]["bindings"]
    except (OSError, ValueError, KeyError) as exc:
        log.warning("relation catalogue: cannot read labels %s (%s)", path, exc)
        return {}
    return {r["property"]["value"].rsplit("/", 1)[-1]: r["propertyLabel"]["value"] for r in rows
            if "property" in r and "propertyLabel" in r}
