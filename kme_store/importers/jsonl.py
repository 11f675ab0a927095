"""JSON Lines: one fact or edit request object per line."""
from __future__ import annotations

import json
from collections.abc import Iterator

from kme_store.facts import LineError
from kme_store.importers.base import MAX_RECORD_BYTES, Importer, PathLike, Record
from kme_store.importers.lines import read_lines


class JSONLImporter(Importer):
    """Reads `.jsonl`/`.ndjson`: `line` is the physical line number; blank lines are skipped.

    Each line is decoded as strict UTF-8 by itself, so one bad byte costs one line, and the
    error gives the byte offset in the file.
    """

    format = "jsonl"

    def records(self, path: PathLike) -> Iterator[Record]:
        with open(path, "rb") as stream:
            for raw in read_lines(stream, MAX_RECORD_BYTES):
                if raw.data is None:
                    yield raw.number, LineError(raw.number, None, f"line is longer than {MAX_RECORD_BYTES} bytes")
                    continue
                try:
                    text = raw.data.decode("utf-8", errors="strict")
                except UnicodeDecodeError as exc:
                    yield raw.number, LineError(raw.number, None, f"invalid UTF-8 at byte offset {raw.offset + exc.start}")
                    continue
                if not text.strip():
                    continue
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield raw.number, LineError(raw.number, None, f"invalid JSON: {exc.msg} at column {exc.colno}")
                    continue
                if not isinstance(value, dict):
                    yield raw.number, LineError(raw.number, None, f"must be a JSON object, not {_json_type(value)}")
                    continue
                yield self.to_record(raw.number, value)


def _json_type(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
