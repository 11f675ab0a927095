"""Walking a relation chain hop by hop: a stored fact decides each hop, else the base model answers it."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from kme_store.facts import Fact

from kme_server.answers import GenerationOptions, Hop
from kme_server.models.base import LanguageModel
from kme_server.multihop.chain import FactSource
from kme_server.multihop.hop_styles import HopStyles, Style, hop_prompt
from kme_server.multihop.relations import Relation, RelationCatalogue, cue_stems
from kme_server.multihop.settings import MultiHopSettings

log = logging.getLogger(__name__)

# A model's hop answer ends at the first sentence or clause break: "Paris, the capital" -> "Paris".
_CUT = re.compile(r"[\n.,;:!?()\"“”]")
# Titles and place prefixes whose dot is not a sentence's end when a name follows: "St. Petersburg",
# "Mt. Fuji", "Dr. Dre". Cutting there left "St", which no store name matches and no scorer accepts.
_PREFIX_DOT = re.compile(r"(?:^|\s)(?:St|Ste|Mt|Ft|Pt|Dr|Mr|Mrs|Ms|Sen|Gen|Rev|Prof)$")
_LEADING = re.compile(r"^(?:the city of|the country of|the|a|an)\s+", re.IGNORECASE)


@dataclass(slots=True)
class Walk:
    """The hops taken, the facts they used, and the final answer ("" when a hop found nothing)."""

    hops: list[Hop] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)  # the model's hop prompts, for the Plan
    complete: bool = False  # every relation of the chain was walked (a stopped walk is not)

    @property
    def answer(self) -> str:
        return self.hops[-1].object if self.hops else ""


def normalize_answer(raw: str) -> str:
    """A model's hop answer as an entity name: first clause, no leading article, trimmed."""
    text = raw.strip()
    for match in _CUT.finditer(text):
        if match.group(0) == "." and _dot_in_name(text[:match.start()], text[match.end():]):
            continue
        text = text[:match.start()]
        break
    text = _LEADING.sub("", text.strip())
    return text.strip(" '’\"")


def _dot_in_name(before: str, after: str) -> bool:
    """Whether a dot belongs to the name: right after a lone capital ("U.S.", "Washington D.C."),
    or after a prefix with a name following ("St. Petersburg")."""
    return (re.search(r"(?:^|[\s.])[A-Z]$", before) is not None
            or (_PREFIX_DOT.search(before) is not None and re.match(r" [A-Z]", after) is not None))


class Walker:
    """Follows a chain from a start entity through the store, asking the model where it is silent.

    The store's current fact for (entity, relation) is authoritative: edits have already
    superseded world facts there. A model hop's answer is a name like any other: when it equals
    a stored entity's name or alias, the next hop reads the store's facts about that entity.

    Where the store has no fact for the asked relation, it may still decide the hop before the
    model is asked (with a catalogue and a relation similarity): a stored relation of the entity
    close in meaning stands in ("country" asked, "country of origin" stored), or an unnamed hop
    (at most `bridge_hops` in one walk) bridges to an entity that has the asked relation ("the
    sport played by X": X's position, then the position's sport). Questions leave such hops
    implicit; the graph makes them explicit. Where the chain's next relation is stored instead
    and leads to the asked one, the two are walked in the store's order (`_swap`): which of two
    relations a question names first is often ambiguous.
    """

    def __init__(self, store: FactSource, model: LanguageModel | None, settings: MultiHopSettings,
                 catalogue: RelationCatalogue | None = None,
                 similarity: Callable[[Relation, Relation], float] | None = None,
                 styles: HopStyles | None = None) -> None:
        self.store = store
        self.model = model
        self.settings = settings
        self.catalogue = catalogue
        self.similarity = similarity
        self.styles = styles  # per-relation hop prompt styles, for hop_prompt "per_relation"

    def walk(self, entity: str, relations: Sequence[Relation], ask_model: bool = True) -> Walk:
        """The walk along `relations` from `entity`. Without `ask_model` it stops at the first hop
        the store cannot decide (Walk.complete tells whether it reached the end)."""
        out = Walk()
        current = entity
        bridges = self.settings.bridge_hops
        i = 0
        while i < len(relations):
            rel = relations[i]
            facts = self._lookup(current, rel)
            if facts:
                # One current object per (subject, relation) unless multi-valued; the newest wins.
                current = self._take(out, current, rel.label, facts[-1])
                i += 1
                continue
            may_swap = self.settings.swap_from_store and i + 1 < len(relations)
            swap = self._swap(current, rel, relations[i + 1]) if may_swap else []
            if swap:
                for hop_rel, fact in swap:
                    current = self._take(out, current, hop_rel.label, fact)
                i += 2
                continue
            repair = self._repair(current, rel, bridges > 0)
            if repair:
                bridges -= len(repair) - 1
                for hop_rel, fact in repair:
                    current = self._take(out, current, hop_rel.label, fact)
                i += 1
                continue
            answer = self._ask_model(current, rel, out) if ask_model else ""
            if not answer:
                log.debug("hop %s of %r: no fact and no model answer; walk stops", rel.key, current)
                break
            out.hops.append(Hop(current, rel.label, answer, "model", None))
            current = answer
            i += 1
        else:
            out.complete = True
        return out

    def needs_bridge(self, entity: str, rel: Relation) -> bool:
        """Whether the store answers `rel` of `entity` only through an unnamed hop: no fact of that
        relation and none close in meaning, but a stored fact leads to an entity that has it."""
        if self.settings.bridge_hops < 1 or self._lookup(entity, rel):
            return False
        return len(self._repair(entity, rel, True)) == 2

    @staticmethod
    def _take(out: Walk, subject: str, relation: str, fact: Fact) -> str:
        out.hops.append(Hop(subject, relation, fact.object, "store", fact.id))
        out.facts.append(fact)
        return fact.object

    def _repair(self, entity: str, rel: Relation, may_bridge: bool) -> list[tuple[Relation, Fact]]:
        """Stored hops that answer `rel` of `entity` without a fact of exactly that relation.

        A stand-in (one hop) is preferred to a bridge (two hops); [] when neither exists.
        """
        if self.catalogue is None or self.similarity is None:
            return []
        known = self._known(entity)
        stand_in = self._stand_in(known, rel)
        if stand_in is not None:
            return [stand_in]
        if not may_bridge:
            return []
        for via, fact in reversed(known):  # newest first: an edit outranks what it superseded
            if via.key == rel.key:
                continue
            onward = self._stored_hop(fact.object, rel)
            if onward is not None:
                return [(via, fact), onward]
        return []

    def _stored_hop(self, entity: str, rel: Relation) -> tuple[Relation, Fact] | None:
        """The store's answer to `rel` of `entity`: its own fact, else a stand-in's (when the
        walker has a catalogue and a similarity), else None."""
        facts = self._lookup(entity, rel)
        if facts:
            return rel, facts[-1]
        if self.catalogue is None or self.similarity is None:
            return None
        return self._stand_in(self._known(entity), rel)

    def _known(self, entity: str) -> list[tuple[Relation, Fact]]:
        """The current facts about `entity`, each with its catalogue relation (needs a catalogue)."""
        assert self.catalogue is not None
        return [(self.catalogue.for_fact(f), f) for f in self.store.facts_about(entity)]

    def _stand_in(self, known: list[tuple[Relation, Fact]], rel: Relation) -> tuple[Relation, Fact] | None:
        """The stored fact whose relation is closest in meaning to `rel`, if close enough (needs a
        similarity). A stored relation whose label narrows `rel`'s ("country of citizenship" for
        "country", "headquarters location" for "location") stands in whatever its similarity,
        unless MultiHopSettings.stand_in_narrower is off."""
        assert self.similarity is not None
        best: tuple[float, Relation, Fact] | None = None
        for other, fact in known:
            sim = self.similarity(rel, other)
            narrower = self.settings.stand_in_narrower and _narrows(other, rel)
            if ((sim >= self.settings.stand_in_similarity or narrower)
                    and (best is None or sim > best[0])):
                best = (sim, other, fact)
        return None if best is None else (best[1], best[2])

    def _swap(self, entity: str, rel: Relation, after: Relation) -> list[tuple[Relation, Fact]]:
        """The chain's next two hops taken in the other order, when only that order is stored.

        Which of two relations a question names first is often ambiguous ("the capital of the
        country where X's spouse holds citizenship" reads spouse, capital, citizenship as easily
        as spouse, citizenship, capital); the graph decides: `after` is stored for `entity` and
        `rel` for where it leads. Both are relations the question names, so no hop is invented.
        """
        first = self._stored_hop(entity, after)
        if first is None:
            return []
        second = self._lookup(first[1].object, rel)
        return [first, (rel, second[-1])] if second else []

    def _lookup(self, entity: str, rel: Relation) -> list[Fact]:
        facts = self.store.lookup(entity, rel.key)
        if not facts and rel.wikidata_id is not None:
            # The same relation stored by label only (a user's fact without a Wikidata id).
            facts = self.store.lookup(entity, rel.label)
        return facts

    def _ask_model(self, entity: str, rel: Relation, out: Walk) -> str:
        if self.model is None:
            return ""
        prompt = self.hop_prompt(entity, rel)
        out.prompts.append(prompt)
        options = GenerationOptions(max_new_tokens=self.settings.max_new_tokens, stop=("\n",))
        # No mapping step is needed: the next hop's lookup resolves the answer by any stored
        # name or alias ("USA" finds "United States of America"), case-insensitively.
        return normalize_answer(self.model.generate(prompt, options))

    def hop_prompt(self, entity: str, rel: Relation) -> str:
        """The prompt the base model completes for one hop: the relation's cloze or few-shot."""
        return hop_prompt(entity, rel, self.hop_style(rel))

    def hop_style(self, rel: Relation) -> Style:
        chosen = self.settings.hop_prompt
        if chosen == "per_relation":
            return self.styles.style(rel.key) if self.styles is not None else "few_shot"
        return chosen


def _narrows(stored: Relation, asked: Relation) -> bool:
    """Whether `stored`'s label is `asked`'s with words added ("country" -> "country of origin")."""
    asked_words = cue_stems(asked.label)
    return bool(asked_words) and asked_words < cue_stems(stored.label)
