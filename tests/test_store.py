"""KnowledgeStore: edit semantics, history, persistence, repair, locking and retrieval."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kme_store import FactStatus, FieldError, NotFoundError, StoreLockedError, StoreSettings
from kme_store.store import KnowledgeStore

CHERRY = {"subject": "Marc Cherry", "relation": "country of citizenship", "relation_id": "P27",
          "object": "United States of America", "object_aliases": ["USA", "US"]}
MAIDS = {"subject": "Devious Maids", "relation": "creator", "relation_id": "P170", "object": "Marc Cherry"}
CAPITALS = [{"subject": "United States of America", "relation": "capital", "relation_id": "P36",
             "object": "Washington, D.C."},
            {"subject": "Bulgaria", "relation": "capital", "relation_id": "P36", "object": "Sofia"}]
EDIT = {"prompt": "Marc Cherry is a citizen of", "subject": "Marc Cherry", "target_new": "Bulgaria",
        "ground_truth": "United States of America", "relation_id": "P27"}


def state(store: KnowledgeStore) -> list[tuple]:
    """Every fact with its status and links: what 'the same state exactly' compares."""
    return [(f.id, f.subject, f.relation_id, f.object, f.status, f.supersedes)
            for f in store.list_facts(status=None, limit=10_000)]


def objects(store: KnowledgeStore, subject: str, relation: str) -> list[str]:
    return [f.object for f in store.lookup(subject, relation)]


def test_add_returns_ids_and_counts(store):
    result = store.add([CHERRY, MAIDS, *CAPITALS])
    assert len(result.ids) == 4 and result.created == 4
    assert len(store) == 4
    assert store.get(result.ids[0]).object == "United States of America"
    assert store.check() == []


def test_adding_the_same_fact_again_changes_nothing(store):
    first = store.add([CHERRY])
    again = store.add([CHERRY])
    assert again.ids == first.ids and again.created == 0
    assert len(store.list_facts(status=None)) == 1


def test_new_object_supersedes_and_history_keeps_the_old(store):
    old = store.add([CHERRY]).ids[0]
    new = store.add([EDIT]).ids[0]
    assert objects(store, "Marc Cherry", "P27") == ["Bulgaria"]
    assert store.get(old).status is FactStatus.SUPERSEDED
    assert store.get(new).supersedes == old
    assert len(store) == 1


def test_relation_id_identifies_the_relation_whatever_its_label(store):
    store.add([CHERRY])
    store.add([{**CHERRY, "relation": "citizenship", "object": "Canada"}])
    assert objects(store, "Marc Cherry", "country of citizenship") == []  # labels differ ...
    assert objects(store, "Marc Cherry", "P27") == ["Canada"]  # ... the id is what counts


def test_relations_lists_every_relation_once_with_its_first_template(store):
    """What the multi-hop catalogue learns from: one entry per relation key, in the order first
    stored, kept after its facts are deleted (a relation's wording stays known)."""
    ids = store.add([{"prompt": "Hamburg is a twin city of", "subject": "Hamburg", "target_new": "Chicago"},
                     {"prompt": "Rome is a twin city of", "subject": "Rome", "target_new": "Paris"},
                     {"subject": "Bulgaria", "relation": "capital", "relation_id": "P36", "object": "Sofia"}]).ids
    assert [(r.key, r.label, r.template) for r in store.relations()] == [
        ("is a twin city of", "is a twin city of", "{} is a twin city of"), ("P36", "capital", None)]
    store.delete(ids)
    assert [r.key for r in store.relations()] == ["is a twin city of", "P36"]
    assert [r.key for r in store.relations(skip=1)] == ["P36"] and store.relations(skip=2) == []
    with pytest.raises(FieldError, match="skip"):
        store.relations(skip=-1)


def test_multi_valued_relation_keeps_every_object(tmp_path, embedder):
    settings = StoreSettings(multi_valued_relations=["P166"])
    with KnowledgeStore(tmp_path / "s", settings, embedder=embedder) as store:
        award = {"subject": "Marie Curie", "relation": "award received", "relation_id": "P166"}
        store.add([{**award, "object": "Nobel Prize in Physics"}, {**award, "object": "Nobel Prize in Chemistry"}])
        assert sorted(objects(store, "Marie Curie", "P166")) == ["Nobel Prize in Chemistry", "Nobel Prize in Physics"]


def test_rollback_of_an_edit_restores_the_previous_state_exactly(store):
    store.add([CHERRY, MAIDS])
    before = state(store)
    edit = store.add([EDIT])
    assert store.rollback(edit.ids[0]) == 1
    after = [s for s in state(store) if s[0] != edit.ids[0]]
    assert after == before
    assert objects(store, "Marc Cherry", "P27") == ["United States of America"]
    assert store.check() == []


def test_rollback_of_a_batch_undoes_every_fact_in_it(store):
    store.add([CHERRY])
    before = state(store)
    batch = store.add([EDIT, {**EDIT, "target_new": "Peru"}, MAIDS])  # two edits of one pair in one batch
    assert objects(store, "Marc Cherry", "P27") == ["Peru"]
    store.rollback(batch.batch_id)
    assert [s for s in state(store) if s[0] not in batch.ids] == before
    assert store.facts_about("Devious Maids") == []


def test_rollback_of_a_superseded_edit_cuts_it_out_of_the_chain(store):
    base = store.add([CHERRY]).ids[0]
    middle = store.add([EDIT]).ids[0]
    last = store.add([{**EDIT, "target_new": "Peru"}]).ids[0]
    store.rollback(middle)
    assert store.get(last).supersedes == base
    store.rollback(last)
    assert objects(store, "Marc Cherry", "P27") == ["United States of America"]


def test_delete_restores_what_the_fact_superseded(store):
    store.add([CHERRY])
    edit = store.add([EDIT]).ids[0]
    assert store.delete([edit]) == 1
    assert objects(store, "Marc Cherry", "P27") == ["United States of America"]
    assert store.get(edit).status is FactStatus.DELETED
    assert store.delete([edit]) == 0  # already gone


def test_unknown_ids_are_not_found_and_change_nothing(store):
    ids = store.add([CHERRY]).ids
    with pytest.raises(NotFoundError):
        store.delete([ids[0], 999])
    assert len(store) == 1
    with pytest.raises(NotFoundError):
        store.rollback("batch-does-not-exist")
    with pytest.raises(NotFoundError):
        store.get(12345)


@pytest.mark.parametrize("bad, field", [
    ({**CHERRY, "subject": "  "}, "items[1].subject"),
    ({**CHERRY, "object": None}, "items[1].object"),
    ({**CHERRY, "relation_id": "27"}, "items[1].relation_id"),
    ({**CHERRY, "object": "x" * 5000}, "items[1].object"),
    ({**EDIT, "prompt": "Who is the president?"}, "items[1].prompt"),
    ({**CHERRY, "subject": "bad \udcff text"}, "items[1].subject"),
    ("not an object", "items[1]"),
])
def test_bad_input_names_the_field_and_stores_nothing(store, bad, field):
    store.add([MAIDS])
    with pytest.raises(FieldError) as err:
        store.add([CHERRY, bad])
    assert err.value.field == field
    assert len(store) == 1


def test_graph_walk_follows_current_facts(store):
    store.add([MAIDS, CHERRY, *CAPITALS])
    path = store.walk("devious maids", ["P170", "P27", "P36"])
    assert [[f.object for f in p] for p in path] == [["Marc Cherry", "United States of America", "Washington, D.C."]]
    store.add([EDIT])
    path = store.walk("Devious Maids", ["P170", "P27", "P36"])
    assert [f.object for f in path[0]] == ["Marc Cherry", "Bulgaria", "Sofia"]
    assert store.walk("Devious Maids", ["P170", "P36"]) == []
    assert "Marc Cherry" in store.neighbours("Devious Maids")


def test_aliases_name_the_same_entity(store):
    store.add([CHERRY, *CAPITALS])
    assert [f.object for f in store.facts_about("usa")] == ["Washington, D.C."]


def test_retrieve_finds_the_mentioned_subject_and_ranks_the_asked_relation(store):
    store.add([CHERRY, MAIDS, *CAPITALS,
               {"subject": "Marc Cherry", "relation": "place of birth", "relation_id": "P19", "object": "Long Beach"}])
    hits = store.retrieve("What is the country of citizenship of Marc Cherry?")
    assert hits and hits[0].fact.subject == "Marc Cherry" and hits[0].fact.relation_id == "P27"
    assert hits[0].subject_match == 1.0 and hits[0].mention == "Marc Cherry"
    assert store.retrieve("What is the capital of the USA?")[0].fact.object == "Washington, D.C."


def test_retrieve_returns_nothing_for_an_unrelated_query(store):
    store.add([CHERRY, MAIDS, *CAPITALS])
    assert store.retrieve("How tall is Mount Everest?") == []


def test_short_aliases_match_only_with_their_case(store):
    store.add([CHERRY, *CAPITALS])
    assert store.retrieve("What is the capital of US?")[0].fact.object == "Washington, D.C."
    assert all(h.mention != "us" for h in store.retrieve("tell us the capital"))


def test_retrieve_tolerates_a_misspelled_subject(store):
    store.add([CHERRY, MAIDS])
    hits = store.retrieve("marc cherrys country of citizenship")
    assert hits and hits[0].fact.subject == "Marc Cherry" and 0.6 <= hits[0].subject_match < 1.0


def test_retrieve_sees_edits_and_deletes_at_once(store):
    store.add([CHERRY])
    edit = store.add([EDIT]).ids[0]
    assert store.retrieve("Marc Cherry is a citizen of")[0].fact.object == "Bulgaria"
    store.delete([edit])
    assert store.retrieve("Marc Cherry is a citizen of")[0].fact.object == "United States of America"


def test_store_survives_reopen(tmp_path, embedder):
    path = tmp_path / "s"
    with KnowledgeStore(path, embedder=embedder) as store:
        store.add([CHERRY, MAIDS, EDIT])
        before = state(store)
    with KnowledgeStore(path, embedder=embedder) as store:
        assert state(store) == before
        assert store.check() == []
        assert store.retrieve("Marc Cherry is a citizen of")[0].fact.object == "Bulgaria"


def test_changes_after_the_snapshot_are_replayed_on_open(tmp_path, embedder):
    path = tmp_path / "s"
    with KnowledgeStore(path, embedder=embedder) as store:
        store.add([CHERRY, MAIDS])
    # Keep the snapshot of that state, make more changes, then put the old snapshot back: as if
    # the process had died after committing them but before saving graph and index.
    saved = {p.name: p.read_bytes() for p in path.iterdir() if p.suffix in (".pickle", ".faiss", ".json")}
    with KnowledgeStore(path, embedder=embedder) as store:
        edit = store.add([EDIT]).ids[0]
        store.delete([store.lookup("Devious Maids", "P170")[0].id])
    for name, data in saved.items():
        (path / name).write_bytes(data)
    with KnowledgeStore(path, embedder=embedder) as store:
        assert store.check() == []
        assert [f.id for f in store.lookup("Marc Cherry", "P27")] == [edit]
        assert store.facts_about("Devious Maids") == []


def test_a_damaged_snapshot_is_rebuilt_from_the_database(tmp_path, embedder):
    path = tmp_path / "s"
    with KnowledgeStore(path, embedder=embedder) as store:
        store.add([CHERRY, MAIDS, *CAPITALS])
    (path / "index.faiss").write_bytes(b"garbage")
    with KnowledgeStore(path, embedder=embedder) as store:
        assert store.check() == [] and len(store) == 4
        assert store.retrieve("What is the capital of Bulgaria?")[0].fact.object == "Sofia"


def test_a_second_writer_process_is_refused(tmp_path, embedder):
    path = tmp_path / "s"
    with KnowledgeStore(path, embedder=embedder) as store:
        store.add([CHERRY])
        code = textwrap.dedent(f"""
            import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})
            from fakes import TrigramEmbedder
            from kme_store import StoreLockedError
            from kme_store.store import KnowledgeStore
            try:
                KnowledgeStore({str(path)!r}, embedder=TrigramEmbedder())
            except StoreLockedError as e:
                print("LOCKED", e)
        """)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert "LOCKED" in out.stdout and "open for writing by another process" in out.stdout, out.stderr
        # Readers are welcome while the writer works.
        with KnowledgeStore(path, embedder=embedder, read_only=True) as reader:
            assert len(reader) == 1
        assert len(store) == 1  # the writer's store is untouched
    with KnowledgeStore(path, embedder=embedder) as again:  # released on close
        assert len(again) == 1


def test_a_second_writer_in_the_same_process_is_refused_too(tmp_path, embedder):
    with KnowledgeStore(tmp_path / "s", embedder=embedder):
        with pytest.raises(StoreLockedError):
            KnowledgeStore(tmp_path / "s", embedder=embedder)


def test_stats_count_history(store):
    store.add([CHERRY])
    store.add([EDIT])
    stats = store.stats()
    assert stats.facts == 1 and stats.total_facts == 2 and stats.by_status["superseded"] == 1
    assert stats.index_size == 1 and stats.graph_edges == 1


def test_read_only_store_refuses_writes(tmp_path, embedder):
    with KnowledgeStore(tmp_path / "s", embedder=embedder) as store:
        store.add([CHERRY])
    with KnowledgeStore(tmp_path / "s", embedder=embedder, read_only=True) as store:
        with pytest.raises(Exception, match="read-only"):
            store.add([MAIDS])


def test_names_that_end_in_punctuation_are_found_whole(store):
    """"C#", "C++" and "Help!" end where a word pattern would not; the shorter "C" must not win
    (a chain read from "C" instead of "C#" starts at the wrong entity)."""
    from kme_server.multihop import find_start
    from kme_store.mentions import spans

    assert {"C#", "C++", "Help!"} <= {s.text for s in spans("Was C# or C++ on Help!?", 3)}
    store.add([{"subject": "C#", "relation": "developer", "relation_id": "P178", "object": "Microsoft"},
               {"subject": "C", "relation": "developer", "relation_id": "P178", "object": "Dennis Ritchie"},
               {"subject": "C++", "relation": "developer", "relation_id": "P178", "object": "Bjarne Stroustrup"},
               {"subject": "Help!", "relation": "performer", "relation_id": "P175", "object": "The Beatles"}])
    assert find_start("Where is the developer of C# based?", store).name == "C#"
    assert find_start("Where is the developer of C++ based?", store).name == "C++"
    assert find_start("Where is the developer of C based?", store).name == "C"
    assert find_start("Who performed Help!?", store).name == "Help!"
    assert store.retrieve("Who developed C#?")[0].fact.object == "Microsoft"
