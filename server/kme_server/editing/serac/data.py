"""Training pairs for the scope classifier: (query, fact, in scope?) with hard negatives."""
from __future__ import annotations

import json
import logging
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from kme_store.facts import EditRequest, Fact, normalize_name

from kme_server.editing.serac.folds import Fold
from kme_server.editing.serac.near import Embed, nearest_relations

log = logging.getLogger(__name__)

# zsRE's records under the data directory: a training source that is also an evaluation set.
ZSRE_DEV = Path("zsre") / "zsre-dev.json"

# Kinds of pair. Positives: the query asks what the fact changes.
EDIT_PROMPT = "edit_prompt"  # the edit's own prompt
REPHRASE = "rephrase"  # CounterFact's rephrase_prompt (often loose: "X is known for")
RELATION_PARAPHRASE = "relation_paraphrase"  # another prompt template of the same relation
LOOSE_REPHRASE = "loose_rephrase"  # a loose rephrasing CounterFact uses for the relation, other subjects'
QUESTION = "question"  # an in-scope question of a scope-questions edit, fact as a sentence
QUESTION_FORM = "question_form"  # the same, with the fact stated as a question and its answer
POSITIVE_KINDS = (EDIT_PROMPT, REPHRASE, RELATION_PARAPHRASE, LOOSE_REPHRASE, QUESTION, QUESTION_FORM)
# Negatives: the query's answer must stay the base model's.
OTHER_SUBJECT = "other_subject_same_relation"  # locality prompt, or another edit of the relation
SAME_SUBJECT = "same_subject_other_relation"  # the fact's subject asked about another relation
UNRELATED = "unrelated"  # another subject and another relation
# A further relation of the fact's object ("the capital of the country of citizenship of X" for
# the fact "X is a citizen of Y"): the fact is one hop of the question, not its answer. AUTO asks
# the classifier whether a question it reads as a chain is really a single edit's question, so
# the classifier must reject these; the walk answers them.
THROUGH_OBJECT = "multi_hop_through_object"
# The fact's subject asked about a relation near the fact's in meaning whose answers are of another
# kind ("X is employed by" for "X worked in the city of Berlin"): near.py. Built only when the
# builder is given a sentence encoder: `train --near-negatives N`, measured and not shipped.
NEAR_RELATION = "same_subject_near_relation"
NEGATIVE_KINDS = (OTHER_SUBJECT, SAME_SUBJECT, UNRELATED, THROUGH_OBJECT, NEAR_RELATION)

# Words too common to say that two relation templates share a meaning.
_STOP = frozenset("a an the of in on at to is was are by for with from which who that whose it "
                  "they their its as be does do did what which where who whom how name".split())
_WORD = re.compile(r"[a-z]+")
_VAGUE = re.compile(r"\b(known|famous) for\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ScopePair:
    """One training example: is `query` in the scope of `fact`?"""

    query: str
    fact: Fact
    label: int  # 1 in scope, 0 out of scope
    kind: str  # one of POSITIVE_KINDS or NEGATIVE_KINDS
    group: str  # the fact's normalized subject: the unit of the train/validation split
    source: str  # "counterfact", "scope-questions" or "zsre"


@dataclass(frozen=True, slots=True)
class _Edit:
    """An edit of either source, with what the negatives need to know about it."""

    fact: Fact
    relation: str  # relation key: a CounterFact template cluster or a Wikidata id
    queries: tuple[str, ...]  # in-scope queries besides the fact's own prompt
    source: str


def _template(prompt: str, subject: str) -> str | None:
    at = prompt.find(subject)
    return None if at < 0 else prompt[:at] + "{}" + prompt[at + len(subject):]


def _content_words(template: str) -> set[str]:
    return {w for w in _WORD.findall(template.replace("{}", " ").lower()) if w not in _STOP}


def _sentence_cut(rephrase: str, subject: str) -> int | None:
    """Where the unrelated text CounterFact puts before a rephrase ends (-1: none); None: no subject."""
    at = rephrase.find(subject)
    if at < 0:
        return None
    head = rephrase[:at]
    return max(head.rfind(". "), head.rfind("? "), head.rfind("! "), head.rfind("\n"))


def _core(rephrase: str, subject: str) -> str | None:
    """The rephrase as a template, without the unrelated text CounterFact puts before it."""
    cut = _sentence_cut(rephrase, subject)
    if cut is None:
        return None
    return rephrase[cut + 1:].strip().replace(subject, "{}", 1) if cut >= 0 else rephrase.replace(subject, "{}", 1)


def _noise(rephrase: str, subject: str) -> str | None:
    """The unrelated text before a rephrase ("A qualified examiner examines ... (Article 47)."), if any."""
    cut = _sentence_cut(rephrase, subject)
    return rephrase[:cut + 1].strip() or None if cut is not None and cut >= 0 else None


class _UnionFind:
    def __init__(self, items: Iterable[str]) -> None:
        self.parent = {x: x for x in items}

    def find(self, x: str) -> str:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def counterfact_relations(rows: Sequence[dict]) -> dict[str, str]:
    """Map each CounterFact prompt template to a relation key (the representative template).

    The flat CounterFact form has no relation id. A record's locality prompt states the same
    relation about another subject, so the template it matches is joined with the record's own.
    Over-joining only costs negatives; under-joining would label paraphrases as negatives, which is
    why every link is taken (generic templates such as "{}, by" do merge a few relations).
    """
    templates = {t for r in rows if (t := _template(r["prompt"], r["subject"]))}
    # Longest first, so that "{} is located in the country of" wins over "{} is in".
    ordered = sorted(templates, key=lambda t: (-len(t), t))
    patterns = [(t, re.compile("^" + re.escape(t).replace(r"\{\}", "(.+)") + "$")) for t in ordered]
    uf = _UnionFind(ordered)
    for r in rows:
        own = _template(r["prompt"], r["subject"])
        if own is None:
            continue
        for t, pattern in patterns:
            if pattern.match(r["locality_prompt"]):
                uf.union(t, own)
                break
    return {t: uf.find(t) for t in ordered}


def load_counterfact(path: Path) -> list[_Edit]:
    """CounterFact records as edits; the relation key is the template cluster."""
    rows = json.loads(Path(path).read_text())
    relation_of = counterfact_relations(rows)
    edits = []
    for r in rows:
        template = _template(r["prompt"], r["subject"])
        if template is None:
            continue
        fact = EditRequest(prompt=r["prompt"], subject=r["subject"], target_new=r["target_new"]).to_fact()
        edits.append(_Edit(fact, relation_of[template], (r["rephrase_prompt"],), "counterfact"))
    return edits


@dataclass(frozen=True, slots=True)
class ZsreRecord:
    """A zsRE record as the store keeps its edit: the question and its new answer."""

    edit: _Edit  # the fact, with the rephrased question as its one in-scope query
    unrelated: str  # the record's locality question (Natural Questions): out of every edit's scope


def load_zsre(path: Path, without: Fold | None = None) -> list[ZsreRecord]:
    """zsRE records (MEND form) whose question and rephrase both name the subject.

    `without`: leave out the records of that fold (folds.py: cross-fitted evaluation). A record's
    relation key is its own question template: zsRE names no relation, and two records' questions
    seldom ask alike, so no zsRE record serves as another's same-relation negative.
    """
    records = []
    for r in json.loads(Path(path).read_text()):
        subject, src, rephrase = r.get("subject", ""), r.get("src", ""), r.get("rephrase", "")
        if not (subject and r.get("alt", "").strip()) or subject not in src or subject not in rephrase:
            continue
        if without is not None and without.holds(subject):
            continue
        fact = EditRequest(prompt=src, subject=subject, target_new=r["alt"]).to_fact()
        records.append(ZsreRecord(_Edit(fact, "zsre:" + (_template(src, subject) or src), (rephrase,), "zsre"),
                                  r.get("loc", "")))
    return records


def _counterfact_locality(path: Path) -> dict[tuple[str, str], str]:
    rows = json.loads(Path(path).read_text())
    return {(r["subject"], r["prompt"]): r["locality_prompt"] for r in rows}


def load_scope_questions(path: Path, cloze_templates: dict[str, str]) -> list[_Edit]:
    """scope-questions edits, parsed with MQuAKE's cloze templates into subject, relation, object.

    The cloze templates serve only to read the edit sentence; they never become queries.
    """
    patterns = []
    for rid, t in cloze_templates.items():
        body = re.escape(t).replace(re.escape("[X]"), "(?P<s>.+?)").replace(re.escape("__"), "(?P<o>.+)")
        patterns.append((rid, t, re.compile("^" + body + "$")))
    # Longest template first: "The [X] is __" would otherwise swallow the others.
    patterns.sort(key=lambda p: -len(p[1]))
    edits = []
    for r in json.loads(Path(path).read_text()):
        for rid, t, pattern in patterns:
            m = pattern.match(r["edit"])
            if m and any(m["s"] in q for q in r["questions"]):
                fact = Fact(subject=m["s"], relation=rid, object=m["o"], relation_id=rid,
                            template=t.replace("[X]", "{}").replace("__", "").rstrip())
                edits.append(_Edit(fact, rid, tuple(dict.fromkeys(r["questions"])), "scope-questions"))
                break
    return edits


@dataclass(frozen=True, slots=True)
class RelationPhrasing:
    """How a Wikidata relation is asked about, for composing chained questions; `{}` is the subject."""

    noun: str  # "the country of citizenship of {}"
    question: str  # "What is the country of citizenship of {}?"
    cloze: str  # "{} is a citizen of"
    label: str = ""  # "country of citizenship": how a fact stored without a template names it


def relation_phrasings(templates_dir: Path, labels: Path | None = None) -> dict[str, RelationPhrasing]:
    """Phrasings of the relations MQuAKE's template files name (relation-level templates, no records)."""
    from kme_server.multihop.relations import RelationCatalogue
    from kme_server.multihop.settings import MultiHopSettings

    catalogue = RelationCatalogue.from_settings(MultiHopSettings(templates_dir=templates_dir, relation_labels=labels))
    return {r.key: RelationPhrasing(r.noun, r.question, r.cloze, r.label) for r in catalogue}


class PairBuilder:
    """Builds the pairs of every kind from the loaded edits, seeded.

    `phrasings` (Wikidata id -> RelationPhrasing), when given, adds THROUGH_OBJECT negatives for
    the scope-questions edits, whose relations are Wikidata ids, and states a `label_form` share
    of those edits' facts from the relation's label instead of its cloze template.

    `embed` (a sentence encoder), when given, adds `near_negatives` NEAR_RELATION negatives for
    each CounterFact edit, from its relation's `near_k` nearest relations (near.py). They draw from
    their own generator, so every other pair stays as it was.
    """

    def __init__(self, counterfact: list[_Edit], locality: dict[tuple[str, str], str],
                 scope_questions: list[_Edit], seed: int = 0,
                 phrasings: dict[str, RelationPhrasing] | None = None, label_form: float = 0.5,
                 zsre: Sequence[ZsreRecord] = (), embed: Embed | None = None, near_k: int = 3,
                 near_negatives: int = 2) -> None:
        self.rng = random.Random(seed)
        self.near_rng = random.Random(seed + 2)
        self.near_negatives = near_negatives
        # zsRE's pairs draw from their own generator, so that adding them leaves every other
        # pair as it was (the counterfactual model trains on those and not on zsRE).
        self.zsre_rng = random.Random(seed + 1)
        self.zsre = list(zsre)
        # Subjects to swap into a zsRE question (an other-subject negative): zsRE's and CounterFact's.
        self.zsre_subjects = [z.edit.fact.subject for z in self.zsre] + [e.fact.subject for e in counterfact]
        self.phrasings = dict(phrasings or {})
        self.label_form = label_form
        self.cf = counterfact
        self.sq = scope_questions
        self.locality = locality
        self.by_relation: dict[str, list[_Edit]] = defaultdict(list)
        for e in counterfact + scope_questions:
            self.by_relation[e.relation].append(e)
        # Templates by relation: CounterFact prompt templates, and scope-questions questions.
        self.cf_templates: dict[str, list[str]] = defaultdict(list)
        for e in counterfact:
            if e.fact.template not in self.cf_templates[e.relation]:
                self.cf_templates[e.relation].append(e.fact.template)
        self.sq_templates: dict[str, list[str]] = defaultdict(list)
        for e in scope_questions:
            for q in e.queries:
                t = _template(q, e.fact.subject)
                if t and t not in self.sq_templates[e.relation]:
                    self.sq_templates[e.relation].append(t)
        # Loose rephrasings CounterFact counts as in scope ("X was born in" for a language edit):
        # another relation's template equal to one of them must not become a negative.
        cores: dict[str, Counter[str]] = defaultdict(Counter)
        for e in counterfact:
            core = _core(e.queries[0], e.fact.subject)
            if core:
                cores[e.relation][core] += 1
        self.loose = {rel: {c for c, n in cnt.items() if n >= 2} for rel, cnt in cores.items()}
        self.loose_list = {rel: sorted(cs) for rel, cs in self.loose.items() if cs}
        self.near: dict[str, list[str]] = {}
        if embed is not None:
            objects: dict[str, Counter[str]] = defaultdict(Counter)
            for e in counterfact:
                objects[e.relation][e.fact.object.lower()] += 1
            self.near = nearest_relations(self.cf_templates, objects, embed, near_k)
            log.info("near relations: %s", self.near)
        # Users and CounterFact put unrelated text before a question. Positives and negatives
        # both get it, so that the classifier learns to read past it rather than that noise
        # means "in scope" (or "out").
        self.noise = sorted({n for e in counterfact if (n := _noise(e.queries[0], e.fact.subject))})
        self.words = {rel: set().union(*(_content_words(t) for t in ts)) for rel, ts in self.cf_templates.items()}
        for e in scope_questions:
            self.words[e.relation] = _content_words(e.fact.template or "")
        for z in self.zsre:
            e = z.edit
            self.words[e.relation] = _content_words(e.fact.template or "") | _content_words(
                _template(e.queries[0], e.fact.subject) or "")

    def _other_relation_template(self, edit: _Edit, rng: random.Random | None = None) -> str | None:
        """A template of a relation that surely differs from the edit's, cloze or question form."""
        rng = rng or self.rng
        pool = self.cf_templates if rng.random() < 0.5 else self.sq_templates
        for _ in range(20):
            rel = rng.choice(list(pool))
            if rel == edit.relation:
                continue
            # Across the sources relation keys differ; a shared content word ("citizen", "born")
            # means they may be the same relation, so the template is not used.
            if edit.source != "counterfact" or pool is self.sq_templates:
                if self.words.get(rel, set()) & self.words.get(edit.relation, set()):
                    continue
            template = rng.choice(pool[rel])
            # CounterFact counts "X is known for" as a rephrase of many relations, and its loose
            # rephrasings of this relation are in scope by its own labels.
            if template in self.loose.get(edit.relation, set()) or _VAGUE.search(template):
                continue
            return template
        return None

    def _near_relation_negatives(self, edit: _Edit) -> list[ScopePair]:
        """The subject asked about relations near the edit's in meaning, whose answers differ in kind."""
        rng, s = self.near_rng, edit.fact.subject
        near = self.near.get(edit.relation, [])
        out = []
        for rel in rng.sample(near, min(self.near_negatives, len(near))):
            # CounterFact's loose rephrasings of this relation are in scope by its own labels.
            templates = [t for t in self.cf_templates[rel]
                         if t not in self.loose.get(edit.relation, set()) and not _VAGUE.search(t)]
            if templates:
                query = self._noisy(rng.choice(templates).format(s), 0.3, rng)
                out.append(ScopePair(query, edit.fact, 0, NEAR_RELATION, normalize_name(s), edit.source))
        return out

    def _other_edit(self, edit: _Edit, same_relation: bool) -> _Edit | None:
        pool = self.by_relation[edit.relation] if same_relation else self.cf + self.sq
        subject = normalize_name(edit.fact.subject)
        for _ in range(20):
            other = self.rng.choice(pool)
            if normalize_name(other.fact.subject) == subject:
                continue
            if not same_relation and other.relation == edit.relation:
                continue
            return other
        return None

    def _noisy(self, query: str, rate: float, rng: random.Random | None = None) -> str:
        """`query` with unrelated text before it, at `rate`."""
        rng = rng or self.rng
        if self.noise and rng.random() < rate:
            return f"{rng.choice(self.noise)} {query}"
        return query

    def _negatives(self, edit: _Edit, query: str) -> list[ScopePair]:
        s, out = edit.fact.subject, []
        group = normalize_name(s)
        template = self._other_relation_template(edit)
        if template:
            out.append(ScopePair(self._noisy(template.format(s), 0.3), edit.fact, 0, SAME_SUBJECT, group,
                                 edit.source))
        other = self._other_edit(edit, same_relation=True)
        if other:
            # The other edit's own query, still answered by its own relation: not this fact's.
            q = other.fact.template.format(other.fact.subject) if self.rng.random() < 0.5 or not other.queries \
                else self.rng.choice(other.queries)
            if edit.source == "counterfact" and (edit.fact.subject, query) in self.locality and self.rng.random() < 0.5:
                q = self.locality[(edit.fact.subject, query)]
            if s not in q:
                out.append(ScopePair(self._noisy(q, 0.2), edit.fact, 0, OTHER_SUBJECT, group, edit.source))
        other = self._other_edit(edit, same_relation=False)
        if other:
            q = self.rng.choice(other.queries or (other.fact.template.format(other.fact.subject),))
            if s not in q:
                out.append(ScopePair(q, edit.fact, 0, UNRELATED, group, edit.source))
        return out

    def _through_object(self, edit: _Edit) -> ScopePair | None:
        """A question that asks a further relation of the edit's object, chained through the edit."""
        inner = self.phrasings.get(edit.relation)
        if inner is None or len(self.phrasings) < 2:
            return None
        outer_key = self.rng.choice(sorted(k for k in self.phrasings if k != edit.relation))
        outer = self.phrasings[outer_key]
        nested = inner.noun.format(edit.fact.subject)
        form = self.rng.random()
        if form < 0.5:
            query = outer.question.format(nested)
        elif form < 0.8:
            # A sentence that starts with the nested phrase starts with a capital.
            query = outer.cloze.format(nested[:1].upper() + nested[1:] if outer.cloze.startswith("{}") else nested)
        else:
            # The possessive form users write: "X's country of citizenship".
            m = re.fullmatch(r"the (.+) of \{\}", inner.noun)
            query = outer.question.format(f"{edit.fact.subject}'s {m.group(1)}") if m else outer.question.format(nested)
        return ScopePair(self._noisy(query, 0.15), edit.fact, 0, THROUGH_OBJECT, normalize_name(edit.fact.subject),
                         edit.source)

    def counterfact_pairs(self, edit: _Edit) -> list[ScopePair]:
        f, group = edit.fact, normalize_name(edit.fact.subject)
        prompt = f.template.format(f.subject)
        out = [ScopePair(prompt, f, 1, EDIT_PROMPT, group, edit.source),
               ScopePair(edit.queries[0], f, 1, REPHRASE, group, edit.source)]
        siblings = [t for t in self.cf_templates[edit.relation] if t != f.template]
        if siblings:
            out.append(ScopePair(self._noisy(self.rng.choice(siblings).format(f.subject), 0.4), f, 1,
                                 RELATION_PARAPHRASE, group, edit.source))
        loose = [c for c in self.loose_list.get(edit.relation, []) if c != _core(edit.queries[0], f.subject)]
        if loose:
            out.append(ScopePair(self._noisy(self.rng.choice(loose).format(f.subject), 0.4), f, 1,
                                 LOOSE_REPHRASE, group, edit.source))
        out += self._negatives(edit, prompt)
        # More same-subject negatives: the hardest case for the product (retrieval by subject
        # alone would accept them all).
        for _ in range(2):
            out += [p for p in self._negatives(edit, prompt) if p.kind == SAME_SUBJECT]
        # The positives' own words about another subject: only the subject tells them apart, so
        # the classifier must read it rather than the relation alone.
        other = self._other_edit(edit, same_relation=True)
        if other:
            swapped = self.rng.choice([p.query for p in out if p.label == 1]).replace(f.subject, other.fact.subject)
            if f.subject not in swapped:
                out.append(ScopePair(swapped, f, 0, OTHER_SUBJECT, group, edit.source))
        return out + self._near_relation_negatives(edit)

    def scope_question_pairs(self, edit: _Edit) -> list[ScopePair]:
        f, group = edit.fact, normalize_name(edit.fact.subject)
        questions = list(edit.queries)
        self.rng.shuffle(questions)
        out = [ScopePair(self._noisy(q, 0.15), f, 1, QUESTION, group, edit.source) for q in questions[:2]]
        if len(questions) >= 2:
            # The zsRE form: the edit is stored as a question and its answer.
            asked = _template(questions[0], f.subject)
            if asked:
                qf = Fact(subject=f.subject, relation=f.relation, object=f.object,
                          relation_id=f.relation_id, template=asked)
                q = questions[-1]
                out.append(ScopePair(q, qf, 1, QUESTION_FORM, group, edit.source))
                out += [ScopePair(p.query, qf, 0, p.kind, group, edit.source) for p in self._negatives(edit, q)]
        out += self._negatives(edit, questions[0])
        chained = self._through_object(edit)
        if chained is not None:
            out.append(chained)
        return out

    def _in_label_form(self, edit: _Edit) -> _Edit:
        """The edit with its fact stated from the relation's label ("The country of citizenship of
        X is Y."), as the store states a fact imported without a template (a user's triples, a
        world fact whose data has no cloze). Trained only on template sentences, the classifier
        rejected clozes against such facts (bench/scope_hops.py)."""
        phrasing = self.phrasings.get(edit.relation)
        if phrasing is None or not phrasing.label:
            return edit
        f = edit.fact
        fact = Fact(subject=f.subject, relation=phrasing.label, object=f.object, relation_id=f.relation_id)
        return _Edit(fact, edit.relation, edit.queries, edit.source)

    def zsre_pairs(self, record: ZsreRecord) -> list[ScopePair]:
        """A zsRE record: its question and its rephrase in scope of the stored question, each way
        round; out of scope: another relation of the subject, the rephrase about another subject,
        and the record's locality question."""
        e, rng = record.edit, self.zsre_rng
        f, group, rephrase = e.fact, normalize_name(e.fact.subject), e.queries[0]
        out = [ScopePair(f.template.format(f.subject), f, 1, EDIT_PROMPT, group, e.source),
               ScopePair(rephrase, f, 1, QUESTION_FORM, group, e.source)]
        # The user may have stored the rephrased question and ask the original one.
        asked = _template(rephrase, f.subject)
        if asked:
            flipped = Fact(subject=f.subject, relation=f.relation, object=f.object, template=asked)
            out.append(ScopePair(f.template.format(f.subject), flipped, 1, QUESTION_FORM, group, e.source))
        for _ in range(2):
            template = self._other_relation_template(e, rng)
            if template:
                out.append(ScopePair(template.format(f.subject), f, 0, SAME_SUBJECT, group, e.source))
        other = rng.choice(self.zsre_subjects)
        swapped = rng.choice([rephrase, f.template.format(f.subject)]).replace(f.subject, other)
        if normalize_name(other) != group and f.subject not in swapped:
            out.append(ScopePair(swapped, f, 0, OTHER_SUBJECT, group, e.source))
        if record.unrelated and f.subject not in record.unrelated:
            out.append(ScopePair(record.unrelated, f, 0, UNRELATED, group, e.source))
        return out

    def build(self) -> list[ScopePair]:
        pairs = []
        for e in self.cf:
            pairs += self.counterfact_pairs(e)
        for e in self.sq:
            if self.rng.random() < self.label_form:
                e = self._in_label_form(e)
            pairs += self.scope_question_pairs(e)
        for z in self.zsre:
            pairs += self.zsre_pairs(z)
        return pairs


def build_pairs(data_dir: Path, seed: int = 0, zsre: Fold | bool = False, embed: Embed | None = None,
                near_k: int = 3, near_negatives: int = 2) -> list[ScopePair]:
    """All training pairs from counterfact-train and scope-questions under `data_dir`, and with
    `zsre`, from zsre-dev: True for every record, a Fold for every record outside that fold. With
    `embed`, NEAR_RELATION negatives too (PairBuilder); without, none.

    Never reads counterfact-val. zsre-dev is also evaluated: its benchmark scores each fold with a
    classifier trained without it (folds.py). Without zsRE the pairs are exactly those of the
    other two sources: adding zsRE changes none of them.
    """
    data_dir = Path(data_dir)
    records = []
    zsre_path = data_dir / ZSRE_DEV
    if isinstance(zsre, Fold) or (zsre and zsre_path.is_file()):
        records = load_zsre(zsre_path, zsre if isinstance(zsre, Fold) else None)
    elif zsre:
        log.warning("no %s: the classifier trains without zsRE's questions", zsre_path)
    cf_path = data_dir / "counterfact" / "counterfact-train.json"
    cloze = json.loads((data_dir / "mquake" / "cloze_templates.json").read_text())
    labels = data_dir / "wikidata" / "relation-labels.json"
    phrasings = relation_phrasings(data_dir / "mquake", labels if labels.is_file() else None)
    builder = PairBuilder(load_counterfact(cf_path), _counterfact_locality(cf_path),
                          load_scope_questions(data_dir / "mquake" / "scope-questions.json", cloze), seed,
                          phrasings, zsre=records, embed=embed, near_k=near_k, near_negatives=near_negatives)
    pairs = builder.build()
    log.info("built %d pairs: %s", len(pairs), dict(sorted(Counter(p.kind for p in pairs).items())))
    return pairs


def split_pairs(pairs: Sequence[ScopePair], val_fraction: float = 0.1,
                seed: int = 0) -> tuple[list[ScopePair], list[ScopePair]]:
    """Train and validation pairs, split by subject so that no validation subject is trained on."""
    groups = sorted({p.group for p in pairs})
    random.Random(seed).shuffle(groups)
    held = set(groups[: int(round(len(groups) * val_fraction))])
    train = [p for p in pairs if p.group not in held]
    val = [p for p in pairs if p.group in held]
    return train, val


def sample(pairs: Sequence[ScopePair], n: int, seed: int = 0) -> list[ScopePair]:
    """A seeded subset of `n` pairs (all when n <= 0 or n >= len)."""
    if n <= 0 or n >= len(pairs):
        return list(pairs)
    return random.Random(seed).sample(list(pairs), n)


def training_sources(zsre: str) -> list[str]:
    """The data files a trainer read, for its metrics file; `zsre` is its --zsre setting."""
    sources = ["counterfact/counterfact-train.json", "mquake/scope-questions.json"]
    if zsre != "none":
        sources.append(f"{ZSRE_DEV.as_posix()} ({'every record' if zsre == 'all' else 'all but fold ' + zsre})")
    return sources


def with_every_zsre(pairs: Sequence[ScopePair], n: int, most: int, seed: int = 0,
                    repeat: int = 1) -> list[ScopePair]:
    """Every zsRE pair (at most `most` of them, which a small run needs), each `repeat` times, and
    a seeded sample of the others to make `n`; all pairs when n <= 0. zsRE's records are scarce
    (one pair in fifty) and alone in their question style, so a plain sample would take few of
    them. Without zsRE pairs this is sample(pairs, n, seed)."""
    if n <= 0:
        return list(pairs)
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, not {repeat}")
    zsre = sample([p for p in pairs if p.source == "zsre"], most, seed) * repeat if most > 0 else []
    others = [p for p in pairs if p.source != "zsre"]
    return zsre + sample(others, n - len(zsre), seed)


def composition(pairs: Iterable[ScopePair]) -> dict[str, int]:
    """Counts by kind, for the logs and the metrics file."""
    return dict(sorted(Counter(p.kind for p in pairs).items()))
