"""Relations near in meaning but with other answers: where the hardest same-subject negatives come from.

A same-subject negative drawn from a random other relation is mostly easy ("X plays the sport"
against "X died in"). The classifier's errors sit between relations that read alike: after "X
worked in the city of Berlin" it accepted "X is employed by" and "The occupation of X is" and
answered Berlin. Those relations are near in embedding space, so the nearest relations of each
give the negatives it needs to see more of.

Nearness alone would also pick paraphrases: CounterFact's "X speaks the language" and "X, a
native [speaker of]" are two relations whose questions, asked of one subject, mean the same.
Such relations answer with the same kind of thing (languages), so a relation only counts as near
when the objects of the two relations hardly overlap: a question whose answer is of another kind
cannot be in the edit's scope.

Measured (docs/BENCHMARKS.md, session 14): trained with these negatives, the classifier stops
claiming those work questions but claims more "X was born in the city of" probes against edits of
other relations, and on CounterFact validation its trade-off between rephrasings accepted and
same-subject probes refused is no better than without them at any threshold. Off by default
(`train --near-negatives`).
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Callable, Mapping, Sequence

# Text in, one vector per text out (a sentence encoder).
Embed = Callable[[Sequence[str]], Sequence[Sequence[float]]]


def answer_overlap(a: Counter[str], b: Counter[str]) -> float:
    """Share of `a`'s objects (counted per edit) that `b` also has as objects."""
    total = sum(a.values())
    return sum(n for obj, n in a.items() if obj in b) / total if total else 0.0


def _unit(v: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / norm for x in v]


def _centroid(vectors: Sequence[Sequence[float]]) -> list[float]:
    units = [_unit(v) for v in vectors]
    return _unit([sum(col) / len(units) for col in zip(*units)])


def nearest_relations(templates: Mapping[str, Sequence[str]], objects: Mapping[str, Counter[str]],
                      embed: Embed, k: int, max_overlap: float = 0.2) -> dict[str, list[str]]:
    """Each relation's `k` nearest other relations whose answers are of another kind.

    `templates`: relation key -> its prompt templates ("{}" for the subject); `objects`: relation
    key -> its edits' objects, lower-cased. Nearness is the cosine between the mean embeddings of
    the two relations' templates (the subject written "X"); two relations are of one kind when
    either's objects overlap the other's by more than `max_overlap`.
    """
    keys = sorted(k_ for k_, ts in templates.items() if ts)
    if k <= 0 or len(keys) < 2:
        return {}
    texts = [t.format("X") for key in keys for t in templates[key]]
    vectors = list(embed(texts))
    if len(vectors) != len(texts):
        raise ValueError(f"the encoder gave {len(vectors)} vectors for {len(texts)} templates")
    centroids, at = {}, 0
    for key in keys:
        n = len(templates[key])
        centroids[key] = _centroid(vectors[at:at + n])
        at += n
    empty: Counter[str] = Counter()
    near = {}
    for key in keys:
        mine = objects.get(key, empty)
        others = [o for o in keys if o != key
                  and max(answer_overlap(mine, objects.get(o, empty)), answer_overlap(objects.get(o, empty), mine))
                  <= max_overlap]
        others.sort(key=lambda o: (-sum(x * y for x, y in zip(centroids[key], centroids[o])), o))
        near[key] = others[:k]
    return near
