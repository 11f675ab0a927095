"""`python -m kme_store`: import and retrieve from the command line, JSON out, errors on stderr."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kme_store", *args], capture_output=True, text=True, timeout=300)


def test_import_then_retrieve(tmp_path: Path):
    facts = tmp_path / "facts.jsonl"
    facts.write_text(json.dumps({"subject": "Marc Cherry", "relation": "country of citizenship", "relation_id": "P27",
                                 "object": "Bulgaria"}) + "\n" + '{"subject": ""}\n')
    data = str(tmp_path / "store")
    out = run("import", str(facts), "--data", data)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["imported"] == 1 and summary["skipped"] == 1 and "line 2" in summary["errors"][0]
    hits = json.loads(run("retrieve", "Which country is Marc Cherry a citizen of?", "--data", data).stdout)
    assert hits[0]["fact"]["object"] == "Bulgaria"
    assert json.loads(run("stats", "--data", data).stdout)["facts"] == 1


def test_a_missing_store_is_a_clear_error(tmp_path: Path):
    out = run("retrieve", "anything", "--data", str(tmp_path / "nowhere"))
    assert out.returncode == 2 and "no store at" in out.stderr
