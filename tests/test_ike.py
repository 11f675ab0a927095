"""IKE: demonstration pools (building, storing, choosing) and prompt rendering, with a fake embedder."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from kme_store.facts import EditRequest, Fact

from kme_server.editing.demos import (Demo, DemoKind, DemoPool, build_demos, build_pool_files, clean_paraphrase,
                                      demo_from_record, main)
from kme_server.editing.ike import IKESettings, InContextEditor, default_pool_path


class HashEmbedder:
    """Bag-of-words vectors: texts sharing words are similar. Deterministic and instant."""

    name = "hash-bow"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace("'s", " ").split():
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


def _record(i: int, subject: str, prompt: str, new: str, old: str, rephrase: str, loc: str, loc_ans: str) -> dict:
    return {"case_id": i, "prompt": prompt, "subject": subject, "target_new": new, "ground_truth": old,
            "rephrase_prompt": rephrase, "locality_prompt": loc, "locality_ground_truth": loc_ans}


RECORDS = [
    _record(1, "Danielle Darrieux", "The mother tongue of Danielle Darrieux is", "English", "French",
            "Something else happened. Danielle Darrieux's mother tongue is", "The native language of Jean Gabin is", "French"),
    _record(2, "Toko Yasuda", "Toko Yasuda, the", "piano", "guitar", "Toko Yasuda is incredible at",
            "John Lennon performs on the", "guitar"),
    _record(3, "Autonomous University of Madrid", "Autonomous University of Madrid, which is located in", "Sweden",
            "Spain", "Autonomous University of Madrid is located in", "Biure, which is located in", "Spain"),
    _record(4, "Wellington", "What is the twin city of Wellington? It is", "Sheffield", "Sydney",
            "Wellington's twin city has famous tourist attractions including", "The twin city of Seoul is", "Sydney"),
    _record(5, "Shree Pundalik", "Shree Pundalik, created in", "Sweden", "India",
            "Where Shree Pundalik is from, people speak the language of", "Bachna Ae Haseeno was created in", "India"),
    _record(6, "Apple A5", "Apple A5 was created by", "Google", "Apple", "Apple A5 is developed by",
            "Apple II series is developed by", "Apple"),
]


def _pool(kinds: Sequence[DemoKind] = tuple(DemoKind)) -> DemoPool:
    demos = [demo_from_record(r, kind) for r in RECORDS for kind in kinds]
    return DemoPool.from_demos(demos, HashEmbedder())


def test_demo_kinds_follow_the_record() -> None:
    r = RECORDS[0]
    copy = demo_from_record(r, DemoKind.COPY)
    update = demo_from_record(r, DemoKind.UPDATE)
    retain = demo_from_record(r, DemoKind.RETAIN)
    fact = EditRequest(r["prompt"], r["subject"], r["target_new"]).to_fact().sentence()
    assert copy.fact == update.fact == retain.fact == fact == "The mother tongue of Danielle Darrieux is English."
    assert (copy.prompt, copy.answer) == (r["prompt"], "English")
    assert (update.prompt, update.answer) == ("Danielle Darrieux's mother tongue is", "English")
    assert (retain.prompt, retain.answer) == ("The native language of Jean Gabin is", "French")


def test_clean_paraphrase_cuts_only_a_leading_unrelated_sentence() -> None:
    assert clean_paraphrase("Morley Safer, 84, died. The language used by Michael Winner is", "Michael Winner") == \
        "The language used by Michael Winner is"
    assert clean_paraphrase("J. R. R. Tolkien wrote in", "J. R. R. Tolkien") == "J. R. R. Tolkien wrote in"
    assert clean_paraphrase("no subject here", "Nobody") == "no subject here"


def test_build_is_seeded_balanced_and_distinct() -> None:
    first = build_demos(RECORDS, n=6, seed=3)
    assert first == build_demos(RECORDS, n=6, seed=3)
    assert first != build_demos(RECORDS, n=6, seed=4)
    assert len({d.case_id for d in first}) == 6
    assert sorted(d.kind.value for d in first) == ["copy", "copy", "retain", "retain", "update", "update"]
    with pytest.raises(ValueError):
        build_demos(RECORDS, n=7)


def test_pool_files_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "counterfact-train.json"
    src.write_text(json.dumps(RECORDS), encoding="utf-8")
    out = tmp_path / "pool" / "demos.jsonl"
    pool = build_pool_files(src, out, n=6, seed=0, embedder=HashEmbedder())
    loaded = DemoPool.load(out)
    assert loaded.demos == pool.demos
    # int8 storage keeps cosines within rounding error.
    assert np.allclose(loaded.embeddings, pool.embeddings, atol=0.02)
    meta = json.loads(out.with_name("demos.jsonl.meta.json").read_text())
    assert meta["n"] == 6 and meta["seed"] == 0 and meta["source"] == "counterfact-train.json"


def test_cli_refuses_evaluation_data(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["build", "--counterfact", str(tmp_path / "counterfact-val.json"), "--out", str(tmp_path / "x.jsonl")])


def test_select_takes_the_most_similar_of_each_kind_least_similar_first() -> None:
    pool = _pool()
    query = HashEmbedder().encode(["Toko Yasuda is incredible at"])[0]
    picked = pool.select(query, {DemoKind.COPY: 1, DemoKind.UPDATE: 1, DemoKind.RETAIN: 1})
    assert sorted(d.kind.value for d, _ in picked) == ["copy", "retain", "update"]
    scores = [s for _, s in picked]
    assert scores == sorted(scores)
    assert picked[-1][0].case_id == 2 and picked[-1][0].kind is DemoKind.UPDATE


def test_kind_counts_split_the_demos_by_weight() -> None:
    assert IKESettings(demos=6).kind_counts() == {DemoKind.COPY: 2, DemoKind.UPDATE: 2, DemoKind.RETAIN: 2}
    assert IKESettings(demos=4).kind_counts() == {DemoKind.COPY: 2, DemoKind.UPDATE: 1, DemoKind.RETAIN: 1}
    counts = IKESettings(demos=8, copy_weight=1, update_weight=3, retain_weight=4).kind_counts()
    assert counts == {DemoKind.COPY: 1, DemoKind.UPDATE: 3, DemoKind.RETAIN: 4}
    assert sum(IKESettings(demos=0).kind_counts().values()) == 0


FACT = Fact(subject="Eiffel Tower", relation="is located in", object="Rome", template="{} is located in")


def test_prompt_holds_demos_of_every_kind_then_the_facts_then_the_query() -> None:
    editor = InContextEditor(IKESettings(demos=3), pool=_pool(), embedder=HashEmbedder())
    built = editor.build("Where is the Eiffel Tower?", [FACT])
    assert {d.kind for d in built.demos} == set(DemoKind)
    for demo in built.demos:
        assert f"New Fact: {demo.fact}\nPrompt: {demo.prompt} {demo.answer}\n\n" in built.text
    assert built.text.endswith("New Fact: Eiffel Tower is located in Rome.\nPrompt: Where is the Eiffel Tower?")
    # The retained demo teaches to give the original answer where the new fact does not apply.
    retain = next(d for d in built.demos if d.kind is DemoKind.RETAIN)
    assert retain.answer == next(r["locality_ground_truth"] for r in RECORDS if r["case_id"] == retain.case_id)


def test_no_facts_means_the_query_itself() -> None:
    editor = InContextEditor(IKESettings(demos=6), pool=_pool(), embedder=HashEmbedder())
    assert editor.build("Where is the Eiffel Tower?", []).text == "Where is the Eiffel Tower?"


def test_demos_about_the_query_subject_are_left_out() -> None:
    editor = InContextEditor(IKESettings(demos=18), pool=_pool(), embedder=HashEmbedder())
    fact = Fact(subject="Toko Yasuda", relation="plays", object="drums", template="{} plays the")
    built = editor.build("Toko Yasuda plays the", [fact])
    assert all(d.subject != "Toko Yasuda" for d in built.demos)
    assert len(built.demos) == 15  # every other demonstration of the pool


def test_duplicate_facts_are_stated_once() -> None:
    editor = InContextEditor(IKESettings(demos=0), pool=_pool(), embedder=HashEmbedder())
    text = editor.build("Where is the Eiffel Tower?", [FACT, FACT]).text
    assert text == "New Fact: Eiffel Tower is located in Rome.\nPrompt: Where is the Eiffel Tower?"


def test_a_frame_puts_the_last_line_in_it() -> None:
    editor = InContextEditor(IKESettings(demos=2), pool=_pool(), embedder=HashEmbedder())
    built = editor.build("Where is the Eiffel Tower? ", [FACT])
    framed = editor.render("Where is the Eiffel Tower? ", [FACT], built.demos, frame="Question: {}\nAnswer:")
    # The same demonstrations and facts; only the last line differs.
    assert framed == built.text.rsplit("Prompt: ", 1)[0] + "Question: Where is the Eiffel Tower?\nAnswer:"
    unframed = InContextEditor(IKESettings(demos=0), pool=_pool(), embedder=HashEmbedder())
    assert unframed.render("Where is it?", [FACT], (), frame=None).endswith("Prompt: Where is it?")


def test_shipped_pool_is_training_data_only() -> None:
    path = default_pool_path()
    pool = DemoPool.load(path)  # embeddings shipped beside it: no embedder needed
    meta = json.loads(path.with_name(path.name + ".meta.json").read_text())
    assert len(pool) == meta["n"] == 2000
    assert meta["source"] == "counterfact-train.json"
    assert pool.embeddings.shape == (2000, 384)
    assert {d.kind for d in pool.demos} == set(DemoKind)
    assert all(isinstance(d, Demo) and d.prompt and d.answer for d in pool.demos)
