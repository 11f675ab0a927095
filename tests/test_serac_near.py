"""Near-relation negatives of the scope classifier's training: which relations count as near, and the pairs."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from kme_server.editing.serac import data  # noqa: E402
from kme_server.editing.serac.near import answer_overlap, nearest_relations  # noqa: E402
from test_scope import RELATIONS, write_fixture  # noqa: E402

# Directions a toy encoder gives each template's words: "home" and "employer" templates read
# alike, "language" templates read like neither.
_DIRECTIONS = {"lives": (1.0, 0.0, 0.0), "resides": (1.0, 0.0, 0.0), "home": (1.0, 0.0, 0.0),
               "works": (0.8, 0.6, 0.0), "employed": (0.8, 0.6, 0.0), "employer": (0.8, 0.6, 0.0),
               "speaks": (0.0, 0.0, 1.0), "language": (0.0, 0.0, 1.0), "writes": (0.0, 0.0, 1.0)}


def toy_embed(texts):
    out = []
    for text in texts:
        words = [w for w in text.lower().replace("?", " ").split() if w in _DIRECTIONS]
        if not words:
            raise AssertionError(f"the toy encoder knows no word of {text!r}")
        out.append([sum(_DIRECTIONS[w][i] for w in words) for i in range(3)])
    return out


def test_answer_overlap_counts_shared_objects_per_edit() -> None:
    a = Counter({"paris": 3, "rome": 1})
    assert answer_overlap(a, Counter({"paris": 1})) == 0.75
    assert answer_overlap(a, Counter({"acme": 5})) == 0.0
    assert answer_overlap(Counter(), a) == 0.0


def test_nearest_relations_skip_relations_that_answer_with_the_same_kind() -> None:
    templates = {"home": ["{} lives in"], "residence": ["{} resides in"], "employer": ["{} works for"],
                 "language": ["{} speaks"]}
    objects = {"home": Counter({"paris": 2, "rome": 1}), "residence": Counter({"paris": 1, "oslo": 1}),
               "employer": Counter({"acme": 2}), "language": Counter({"french": 1})}
    near = nearest_relations(templates, objects, toy_embed, k=2)
    # "residence" reads exactly like "home" but answers with the same cities: a paraphrase.
    assert near["home"] == ["employer", "language"]
    assert near["residence"] == ["employer", "language"]
    assert near["employer"][0] in ("home", "residence")
    assert near["language"] == ["employer", "home"]  # both at cosine 0 but employer; then by name
    assert nearest_relations(templates, objects, toy_embed, k=0) == {}


def test_nearest_relations_check_the_encoder_gives_a_vector_per_template() -> None:
    with pytest.raises(ValueError, match="2 templates"):
        nearest_relations({"a": ["{} lives in"], "b": ["{} works for"]}, {}, lambda texts: [[1.0]], k=1)


def test_near_relation_negatives_ask_the_subject_about_the_nearest_relation(tmp_path: Path) -> None:
    root = write_fixture(tmp_path / "data")
    plain = data.build_pairs(root, seed=0)
    pairs = data.build_pairs(root, seed=0, embed=toy_embed, near_k=1, near_negatives=1)
    near = [p for p in pairs if p.kind == data.NEAR_RELATION]
    assert near and all(p.label == 0 and p.source == "counterfact" for p in near)
    assert set(data.NEGATIVE_KINDS) <= {p.kind for p in pairs}
    for p in near:
        own = next(rel for rel, ts in RELATIONS.items() if p.fact.template in ts)
        asked = next(rel for rel, ts in RELATIONS.items() if any(p.query.endswith(t.format(p.fact.subject))
                                                                  for t in ts))
        # Home and employer are each other's nearest; language's nearest is employer.
        assert asked == {"home": "employer", "employer": "home", "language": "employer"}[own]
    # They come from their own generator: every other pair is the one built without them.
    assert [p for p in pairs if p.kind != data.NEAR_RELATION] == plain
    assert not [p for p in plain if p.kind == data.NEAR_RELATION]


def test_sentence_embeddings_are_the_mean_pooled_states_of_each_text(tmp_path: Path) -> None:
    from test_scope import TOY_WORDS, tiny_classifier

    model = tiny_classifier(tmp_path, TOY_WORDS)
    model.train()
    texts = ["alpha lives in paris", "beta", "gamma lives in"]
    vectors = model.sentence_embeddings(texts)
    assert model.training  # left as it was found
    assert len(vectors) == 3 and all(len(v) == model.encoder.config.hidden_size for v in vectors)
    # Batching pads the shorter texts; the mask keeps the padding out of the mean.
    assert vectors[1] == pytest.approx(model.sentence_embeddings(["beta"])[0], abs=1e-5)
