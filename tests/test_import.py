"""Bulk import through the store: errors by line, idempotence, strictness, and a SIGKILL mid-import."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fakes import TrigramEmbedder

from kme_store import ImportAborted, StoreSettings
from kme_store.store import KnowledgeStore

TESTS = Path(__file__).parent


def write_jsonl(path: Path, n: int, bad_every: int = 0) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            if bad_every and i % bad_every == bad_every - 1:
                f.write(json.dumps({"subject": "", "relation": "r", "object": "o"}) + "\n")
            else:
                f.write(json.dumps({"subject": f"Person {i}", "relation": "place of birth", "relation_id": "P19",
                                    "object": f"Town {i % 97}"}) + "\n")
    return path


def test_import_reports_bad_lines_and_stores_the_good_ones(store, tmp_path):
    path = tmp_path / "facts.jsonl"
    path.write_bytes(b"\n".join([
        json.dumps({"subject": "Ada Lovelace", "relation": "occupation", "object": "mathematician"}).encode(),
        b'{"subject": "Alan Turing", "relation": "occupation"}',
        b"[1, 2]",
        b"{not json",
        json.dumps({"subject": "x" * 2000, "relation": "occupation", "object": "y"}).encode(),
        b'{"subject": "\xff\xfe broken", "relation": "occupation", "object": "z"}',
        json.dumps({"prompt": "The occupation of Grace Hopper is", "subject": "Grace Hopper",
                    "target_new": "admiral"}).encode(),
    ]) + b"\n")
    summary = store.import_file(path)
    assert summary.imported == 2 and summary.skipped == 5
    by_line = {e.line: e for e in summary.errors}
    assert set(by_line) == {2, 3, 4, 5, 6}
    assert by_line[2].field == "object"
    assert by_line[5].field == "subject" and "limit" in by_line[5].reason
    assert "UTF-8" in by_line[6].reason
    assert [f.object for f in store.facts_about("Grace Hopper")] == ["admiral"]


def test_importing_the_same_file_twice_adds_nothing(store, tmp_path):
    path = write_jsonl(tmp_path / "f.jsonl", 500)
    first = store.import_file(path)
    second = store.import_file(path)
    assert first.imported == 500 and second.imported == 0 and second.unchanged == 500
    assert len(store.list_facts(status=None, limit=10_000)) == 500


def test_strict_import_refuses_the_whole_file(store, tmp_path):
    path = write_jsonl(tmp_path / "f.jsonl", 50, bad_every=10)
    with pytest.raises(ImportAborted) as err:
        store.import_file(path, strict=True)
    assert len(err.value.errors) == 5 and "line 10" in str(err.value)
    assert len(store) == 0


def test_import_batch_can_be_rolled_back(store, tmp_path):
    store.add([{"subject": "Person 3", "relation": "place of birth", "relation_id": "P19", "object": "Elsewhere"}])
    summary = store.import_file(write_jsonl(tmp_path / "f.jsonl", 100))
    assert store.lookup("Person 3", "P19")[0].object == "Town 3"
    store.rollback(summary.batch_id)
    assert len(store) == 1 and store.lookup("Person 3", "P19")[0].object == "Elsewhere"


def test_progress_is_reported(store, tmp_path):
    seen: list[int] = []
    store.settings.import_batch_size = 100
    store.import_file(write_jsonl(tmp_path / "f.jsonl", 450), progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 450 and len(seen) >= 4


def test_a_killed_import_loses_no_acknowledged_fact_and_resumes(tmp_path):
    """SIGKILL in the middle of an import, reopen, find every committed batch, re-import to finish."""
    n = 20_000
    data = write_jsonl(tmp_path / "big.jsonl", n)
    store_dir = tmp_path / "store"
    child = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(TESTS)!r})
        from fakes import TrigramEmbedder
        from kme_store import StoreSettings
        from kme_store.store import KnowledgeStore
        store = KnowledgeStore({str(store_dir)!r}, StoreSettings(import_batch_size=500), embedder=TrigramEmbedder())
        # The progress callback runs after each committed batch: that is the acknowledgement.
        store.import_file({str(data)!r}, progress=lambda n: print("ACK", n, flush=True))
        print("DONE", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    acked = 0
    deadline = time.monotonic() + 300
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ACK"):
            acked = int(line.split()[1])
            if acked >= 3000:
                os.kill(proc.pid, signal.SIGKILL)
                break
        assert time.monotonic() < deadline
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the import finished before it could be killed"

    with KnowledgeStore(store_dir, embedder=TrigramEmbedder()) as store:
        assert store.check() == []  # graph and index agree with the database
        stored = store.list_facts(limit=n)
        assert len(stored) >= acked  # nothing acknowledged is lost
        assert all(f.subject and f.object and f.relation_id == "P19" for f in stored)  # nothing half-written
        summary = store.import_file(data)
        assert summary.imported == n - len(stored) and summary.unchanged == len(stored)
        assert len(store) == n and len(store.list_facts(status=None, limit=2 * n)) == n  # no duplicate
        assert store.check() == []


def test_several_facts_on_one_line_are_each_stored_across_batch_boundaries(tmp_path, embedder):
    """An MQuAKE case holds several edits on one record; small batches must not drop any."""
    cases = []
    for i in range(6):
        rewrites = [{"prompt": "{} is a citizen of", "relation_id": "P27", "subject": f"Person {i}-{j}",
                     "target_new": {"str": f"Country {j}", "id": "Q1"}, "target_true": {"str": "Old", "id": "Q2"},
                     "question": "?"} for j in range(3)]
        cases.append({"case_id": i, "requested_rewrite": rewrites, "questions": ["q"], "answer": "a",
                      "new_answer": "b", "orig": {"triples": [], "triples_labeled": [], "new_triples": [],
                                                  "new_triples_labeled": [], "edit_triples": []}})
    path = tmp_path / "mquake.json"
    path.write_text(json.dumps(cases))
    with KnowledgeStore(tmp_path / "s", StoreSettings(import_batch_size=4), embedder=embedder) as store:
        summary = store.import_file(path, format="mquake")
        assert summary.imported == 18 and len(store) == 18
        assert store.import_file(path, format="mquake").imported == 0
