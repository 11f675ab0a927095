"""Tests of the streaming bulk-import parsers, on small files written to tmp_path."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kme_store.errors import FieldError
from kme_store.facts import Fact, Limits, LineError
from kme_store.importers import FORMATS, detect_format, file_digest, open_records
from kme_store.importers.jsonstream import JSONStreamError, iter_array

LIMITS = Limits(max_field_chars=100, max_aliases=4)
FACT = {"subject": "Mariela Okonkwo", "relation": "country of citizenship", "relation_id": "P27",
        "object": "Norway", "object_aliases": ["Kingdom of Norway"], "template": "{} is a citizen of"}
EDIT = {"prompt": "The mother tongue of Danielle Darrieux is", "subject": "Danielle Darrieux",
        "target_new": "English", "ground_truth": "French", "relation_id": "P103"}


def read(path: Path, format: str | None = None, **kwargs: Any) -> list[tuple[int, Fact | LineError]]:
    return list(open_records(path, format, limits=LIMITS, **kwargs))


def facts(records: list[tuple[int, Fact | LineError]]) -> list[Fact]:
    return [item for _, item in records if isinstance(item, Fact)]


def errors(records: list[tuple[int, Fact | LineError]]) -> list[LineError]:
    return [item for _, item in records if isinstance(item, LineError)]


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    path.write_bytes(b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n"
                              for line in lines))
    return path


# --- JSON Lines -------------------------------------------------------------------------------

def test_jsonl_reads_facts_and_edits_with_line_numbers(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "f.jsonl", [FACT, b"", b"   ", EDIT])
    records = read(path)
    assert [line for line, _ in records] == [1, 4]  # blank lines skipped silently, numbers kept
    fact, edit = facts(records)
    assert (fact.subject, fact.relation_id, fact.object, fact.object_aliases) == (
        "Mariela Okonkwo", "P27", "Norway", ("Kingdom of Norway",))
    assert (edit.object, edit.template) == ("English", "The mother tongue of {} is")


def test_jsonl_reports_each_bad_line_and_goes_on(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [
        b'{"subject": "a", ',                      # 1 invalid JSON
        [FACT],                                     # 2 not an object
        {**FACT, "subject": "  "},                  # 3 empty field
        {**FACT, "object": "x" * 101},              # 4 over the limit
        {**FACT, "relation_id": "country"},         # 5 bad relation id
        {k: v for k, v in FACT.items() if k != "relation"},  # 6 missing field
        {**EDIT, "prompt": "Who speaks English?"},  # 7 subject not in the prompt
        FACT,                                       # 8 fine
    ])
    records = read(path)
    assert [(e.line, e.field) for e in errors(records)] == [
        (1, None), (2, None), (3, "subject"), (4, "object"), (5, "relation_id"), (6, "relation"), (7, "prompt")]
    bad = errors(records)
    assert "invalid JSON" in bad[0].reason and "column" in bad[0].reason
    assert "object" in bad[1].reason and "array" in bad[1].reason
    assert "limit is 100" in bad[3].reason
    assert [line for line, item in records if isinstance(item, Fact)] == [8]


def test_jsonl_invalid_utf8_names_the_byte_offset(tmp_path: Path) -> None:
    first = json.dumps(FACT).encode() + b"\n"
    bad = b'{"subject": "Caf\xc3", "relation": "r", "object": "o"}\n'
    path = tmp_path / "u.jsonl"
    path.write_bytes(first + bad + first)
    records = read(path)
    assert [line for line, item in records if isinstance(item, Fact)] == [1, 3]
    (error,) = errors(records)
    assert error.line == 2
    offset = len(first) + bad.index(b"\xc3")
    assert error.reason == f"invalid UTF-8 at byte offset {offset}"


def test_jsonl_accepts_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(FACT).encode() + b"\r\n" + json.dumps(EDIT).encode() + b"\r\n")
    assert len(facts(read(path))) == 2


def test_jsonl_runaway_line_is_refused_without_reading_it_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kme_store.importers.jsonl.MAX_RECORD_BYTES", 300)
    path = write_jsonl(tmp_path / "long.jsonl", [{"subject": "s" * 500, "relation": "r", "object": "o"}, FACT])
    records = read(path)
    assert [(e.line, "longer than 300 bytes" in e.reason) for e in errors(records)] == [(1, True)]
    assert [line for line, item in records if isinstance(item, Fact)] == [2]


# --- CSV and TSV ------------------------------------------------------------------------------

def write_csv(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as stream:
        csv.writer(stream, delimiter=delimiter).writerows(rows)
    return path


def test_csv_reads_facts_edits_and_aliases(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f.csv", [
        ["subject", "relation", "relation_id", "object", "object_aliases", "prompt", "target_new"],
        ["Lake Vetrovo", "country", "P17", "Norway", "Kingdom of Norway|NO", "", ""],
        ["Danielle Darrieux", "", "P103", "", "", "The mother tongue of Danielle Darrieux is", "English"],
        [],
        ["Halvorsen Institute", "headquarters location", "", "Bergen", "", "", ""],
    ])
    records = read(path)
    assert [line for line, _ in records] == [2, 3, 5]
    lake, edit, institute = facts(records)
    assert lake.object_aliases == ("Kingdom of Norway", "NO")
    assert (edit.object, edit.relation_id, edit.template) == ("English", "P103", "The mother tongue of {} is")
    assert (institute.relation_id, institute.object_aliases) == (None, ())


def test_csv_without_needed_columns_gives_one_error_and_nothing_else(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "cols.csv", [["subject", "predicate", "value"], ["a", "b", "c"], ["d", "e", "f"]])
    records = read(path)
    assert len(records) == 1
    (error,) = errors(records)
    assert error.line == 1 and error.field == "relation"
    assert "missing columns: relation, object" in error.reason


def test_csv_row_with_wrong_column_count_names_line_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "count.csv"
    path.write_text("subject,relation,object\na,b,c\nd,e\nf,g,h,i\nj,k,l\n", encoding="utf-8")
    records = read(path)
    assert [(e.line, e.reason) for e in errors(records)] == [
        (3, "has 2 columns; the header has 3"), (4, "has 4 columns; the header has 3")]
    assert [line for line, item in records if isinstance(item, Fact)] == [2, 5]


def test_csv_quoted_newline_keeps_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_text('subject,relation,object\n"Lake\nVetrovo",country,Norway\na,b,\n', encoding="utf-8")
    records = read(path)
    assert facts(records)[0].subject == "Lake\nVetrovo"
    (error,) = errors(records)
    assert (error.line, error.field, error.reason) == (4, "object", "is empty")


def test_csv_invalid_utf8_names_line_and_byte_offset(tmp_path: Path) -> None:
    head = b"subject,relation,object\n"
    bad = b"Caf\xe9,r,o\n"
    path = tmp_path / "u.csv"
    path.write_bytes(head + bad + b"a,b,c\n")
    records = read(path)
    (error,) = errors(records)
    assert (error.line, error.reason) == (2, f"invalid UTF-8 at byte offset {len(head) + 3}")
    assert [line for line, item in records if isinstance(item, Fact)] == [3]


def test_csv_over_long_field_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "long.csv", [["subject", "relation", "object"], ["a", "b", "o" * 101]])
    (error,) = errors(read(path))
    assert (error.line, error.field) == (2, "object")


def test_tsv_takes_quotes_literally(tmp_path: Path) -> None:
    path = tmp_path / "f.tsv"
    path.write_text('subject\trelation\tobject\n"Boss" Tweed\toccupation\tpolitician\n', encoding="utf-8")
    (fact,) = facts(read(path))
    assert fact.subject == '"Boss" Tweed'


def test_empty_csv_imports_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    assert read(path) == []


# --- JSON arrays ------------------------------------------------------------------------------

def test_iter_array_matches_json_load_whatever_the_chunk_size() -> None:
    # Multi-byte characters, numbers and literals cut at every possible chunk boundary.
    values = [{"a": "Šárka Ōno 🇧🇬", "n": 12345.5e3}, [1, 2, {"b": None}], 1234567, True, "x\\\"y", {}]
    data = json.dumps(values, ensure_ascii=False).encode()
    for chunk in (1, 2, 3, 5, 64):
        assert [v for _, v in iter_array(io.BytesIO(data), chunk_bytes=chunk)] == values


@pytest.mark.parametrize("data, index, words", [
    (b'{"a": 1}', 1, "expected a JSON array"),
    (b"", 1, "empty file"),
    (b'[{"a": 1}, {"a": 2,}]', 2, "invalid JSON"),
    (b'[{"a": 1} {"a": 2}]', 1, "expected ',' or ']'"),
    (b'[{"a": 1},]', 2, "trailing comma"),
    (b'[{"a": 1}, {"a": 2}', 2, "expected ',' or ']'"),
    (b'[{"a": 1}] x', 1, "unexpected data after the array"),
    (b'[{"a": "\xff"}]', 1, "invalid UTF-8 at byte offset 8"),
])
def test_iter_array_errors(data: bytes, index: int, words: str) -> None:
    with pytest.raises(JSONStreamError) as caught:
        list(iter_array(io.BytesIO(data), chunk_bytes=4))
    assert caught.value.index == index and words in caught.value.reason


def test_json_array_format_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps([FACT, "not an object", {**FACT, "object": ""}, EDIT])[:-1] + ", {bad}]",
                    encoding="utf-8")
    records = read(path, "json")
    assert [(line, type(item).__name__) for line, item in records] == [
        (1, "Fact"), (2, "LineError"), (3, "LineError"), (4, "Fact"), (5, "LineError")]
    bad = errors(records)
    assert (bad[1].field, bad[1].reason) == ("object", "is empty")
    assert "invalid JSON" in bad[2].reason and "rest of the file was not read" in bad[2].reason


# --- benchmark formats ------------------------------------------------------------------------

def mquake_case(case_id: int = 1) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "requested_rewrite": [{
            "prompt": "{} is a citizen of", "relation_id": "P27", "subject": "Marc Cherry",
            "target_new": {"str": "Bulgaria", "id": "Q219"},
            "target_true": {"str": "United States of America", "id": "Q30"},
        }],
        "questions": ["Which country is the creator of \"Devious Maids\" a citizen of?"],
        "answer": "United States of America", "new_answer": "Bulgaria",
        "single_hops": [
            {"cloze": "Devious Maids was created by", "answer": "Marc Cherry", "answer_alias": []},
            {"cloze": "Marc Cherry is a citizen of", "answer": "United States of America", "answer_alias": ["USA"]},
        ],
        "new_single_hops": [
            {"cloze": "Devious Maids was created by", "answer": "Marc Cherry", "answer_alias": []},
            {"cloze": "Marc Cherry is a citizen of", "answer": "Bulgaria",
             "answer_alias": ["Republic of Bulgaria", "Bulgaria", "x" * 101, "\ud83c"]},
        ],
        "orig": {
            "triples": [["Q1", "P170", "Q2"], ["Q2", "P27", "Q30"]],
            "triples_labeled": [["Devious Maids", "creator", "Marc Cherry"],
                                ["Marc Cherry", "country of citizenship", "United States of America"]],
            "new_triples": [["Q1", "P170", "Q2"], ["Q2", "P27", "Q219"]],
            "new_triples_labeled": [["Devious Maids", "creator", "Marc Cherry"],
                                    ["Marc Cherry", "country of citizenship", "Bulgaria"]],
            "edit_triples": [["Q2", "P27", "Q219"]],
        },
    }


def test_mquake_edits(tmp_path: Path) -> None:
    path = tmp_path / "mquake.json"
    path.write_text(json.dumps([mquake_case(), mquake_case(2)]), encoding="utf-8")
    records = read(path, "mquake")
    assert [line for line, _ in records] == [1, 2]
    edit = facts(records)[0]
    assert (edit.subject, edit.relation, edit.relation_id, edit.object, edit.template) == (
        "Marc Cherry", "country of citizenship", "P27", "Bulgaria", "{} is a citizen of")
    # Only the aliases validation accepts: not the object itself, not over-long, no lone surrogate.
    assert edit.object_aliases == ("Republic of Bulgaria",)


def test_mquake_world_facts_come_before_every_edit(tmp_path: Path) -> None:
    path = tmp_path / "mquake.json"
    path.write_text(json.dumps([mquake_case(), mquake_case(2)]), encoding="utf-8")
    records = read(path, "mquake", world=True)
    assert [(line, f.object) for line, f in records] == [
        (1, "Marc Cherry"), (1, "United States of America"), (2, "Marc Cherry"), (2, "United States of America"),
        (1, "Bulgaria"), (2, "Bulgaria")]
    world = facts(records)[1]
    assert (world.relation, world.relation_id, world.template, world.object_aliases) == (
        "country of citizenship", "P27", "{} is a citizen of", ("USA",))


def test_mquake_malformed_case_is_one_error(tmp_path: Path) -> None:
    broken = mquake_case(2)
    broken["requested_rewrite"][0]["target_new"] = {"id": "Q219"}
    del broken["orig"]
    path = tmp_path / "mquake.json"
    path.write_text(json.dumps([broken, mquake_case(3)]), encoding="utf-8")
    records = read(path, "mquake", world=True)
    assert [(e.line, e.field) for e in errors(records)] == [(1, "orig"), (1, "requested_rewrite[0].target_new.str")]
    assert len(facts(records)) == 3  # case 2's two world facts and its edit


def test_counterfact_flat_and_rome_forms(tmp_path: Path) -> None:
    flat = {"case_id": 10, "prompt": "BBC One, by", "subject": "BBC One", "target_new": "Sega",
            "ground_truth": "BBC", "rephrase_prompt": "r", "locality_prompt": "l", "locality_ground_truth": "BBC"}
    rome = {"case_id": 0, "requested_rewrite": {"prompt": "The mother tongue of {} is", "relation_id": "P103",
            "subject": "Danielle Darrieux", "target_new": {"str": "English"}, "target_true": {"str": "French"}}}
    path = tmp_path / "counterfact-val.json"
    path.write_text(json.dumps([flat, rome, {**flat, "target_new": ""}]), encoding="utf-8")
    records = read(path, "counterfact")
    sega, english = facts(records)
    assert (sega.subject, sega.object, sega.template) == ("BBC One", "Sega", "{}, by")
    assert (english.relation_id, english.object) == ("P103", "English")
    assert [(e.line, e.field) for e in errors(records)] == [(3, "target_new")]


def test_zsre_records_and_their_errors(tmp_path: Path) -> None:
    record = {"subject": "Delta Serpentis", "src": "What is the constellation of Delta Serpentis?",
              "alt": "Virgo", "answers": ["Serpens"], "rephrase": "r", "loc": "l", "loc_ans": "a"}
    path = tmp_path / "zsre.json"
    path.write_text(json.dumps([record, {**record, "src": "Which constellation is it in?"},
                                {**record, "alt": ""}, {**record, "answers": []}]), encoding="utf-8")
    records = read(path, "zsre")
    assert [(e.line, e.field) for e in errors(records)] == [(2, "src"), (3, "alt")]
    first = facts(records)[0]
    assert (first.object, first.template) == ("Virgo", "What is the constellation of {}?")


# --- detection and the factory ----------------------------------------------------------------

@pytest.mark.parametrize("name, content, expected", [
    ("a.jsonl", "", "jsonl"), ("a.NDJSON", "", "jsonl"), ("a.csv", "", "csv"), ("a.tsv", "", "tsv"),
    ("m.json", json.dumps([mquake_case()]), "mquake"),
    ("c.json", json.dumps([{"prompt": "p", "subject": "s", "target_new": "t", "rephrase_prompt": "r"}]), "counterfact"),
    ("r.json", json.dumps([{"requested_rewrite": {"prompt": "{} x"}}]), "counterfact"),
    ("z.json", json.dumps([{"subject": "s", "src": "q s", "alt": "a"}]), "zsre"),
    ("f.json", json.dumps([FACT]), "json"), ("e.json", json.dumps([EDIT]), "json"), ("n.json", "[]", "json"),
    ("l.json", json.dumps(FACT) + "\n", "jsonl"), ("noext", " \n[" + json.dumps(FACT) + "]", "json"),
])
def test_detect_format(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert detect_format(path) == expected
    assert expected in FORMATS


@pytest.mark.parametrize("content", ['[{"edit": "x", "questions": []}]', "subject;relation", "[1, 2"])
def test_detect_format_refuses_unknown_files_naming_the_path(tmp_path: Path, content: str) -> None:
    path = tmp_path / "mystery.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FieldError) as caught:
        detect_format(path)
    assert caught.value.field == "format" and str(path) in caught.value.reason


def test_open_records_checks_format_and_file_eagerly(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "f.jsonl", [FACT])
    with pytest.raises(FieldError):
        open_records(path, "xml", limits=LIMITS)
    with pytest.raises(FileNotFoundError):
        open_records(tmp_path / "missing.jsonl", limits=LIMITS)
    assert len(facts(read(path, "jsonl"))) == 1


def test_file_digest(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = bytes(range(256)) * 9000  # more than one read chunk
    path.write_bytes(data)
    assert file_digest(path) == hashlib.sha256(data).hexdigest()


# --- streaming --------------------------------------------------------------------------------

def _lines(n: int) -> Iterator[bytes]:
    for i in range(n):
        yield json.dumps({**FACT, "subject": f"Person {i}", "object_aliases": []}).encode() + b"\n"


@pytest.mark.parametrize("format", ["jsonl", "csv", "json"])
def test_memory_does_not_grow_with_the_file(tmp_path: Path, format: str) -> None:
    n = 8_000
    path = tmp_path / f"big.{format}"
    with open(path, "wb") as stream:
        if format == "jsonl":
            stream.writelines(_lines(n))
        elif format == "csv":
            stream.write(b"subject,relation,relation_id,object,object_aliases,template\n")
            stream.writelines(f"Person {i} of Vetrovo,country of citizenship,P27,Kingdom of Norway,"
                              f"Norway|NO|Norge,{{}} is a citizen of\n".encode() for i in range(n))
        else:
            stream.write(b"[" + b",".join(line.rstrip() for line in _lines(n)) + b"]")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count = sum(1 for _, item in open_records(path, limits=LIMITS) if isinstance(item, Fact))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n
    assert size > 800_000 and peak < 400_000, (size, peak)
