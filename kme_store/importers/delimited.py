"""CSV and TSV with a header row naming the fact or edit-request fields."""
from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from typing import BinaryIO, ClassVar

from kme_store.facts import LineError
from kme_store.importers.base import EDIT_FIELDS, FACT_FIELDS, FIELDS, MAX_RECORD_BYTES, Importer, PathLike, Record
from kme_store.importers.lines import read_lines

logger = logging.getLogger(__name__)


class CSVImporter(Importer):
    """Reads a CSV file whose first row names the columns (`object_aliases` as `a|b|c`).

    `line` is the physical line where a row starts (the header is line 1), so a quoted field
    that spans lines does not shift later numbers. Empty cells count as absent. Without the
    columns of either form the file yields one error at line 1 and nothing else.
    """

    format = "csv"
    delimiter: ClassVar[str] = ","
    quoting: ClassVar[int] = csv.QUOTE_MINIMAL

    def records(self, path: PathLike) -> Iterator[Record]:
        with open(path, "rb") as stream:
            # Decoding errors found by the line source, by physical line, until a row claims them.
            bad: dict[int, str] = {}
            reader = csv.reader(self._text_lines(stream, bad), delimiter=self.delimiter, quoting=self.quoting)
            header = self._header(reader, bad)
            if isinstance(header, LineError):
                yield 1, header
                return
            if header is None:
                return
            yield from self._rows(reader, header, bad)

    @staticmethod
    def _text_lines(stream: BinaryIO, bad: dict[int, str]) -> Iterator[str]:
        for raw in read_lines(stream, MAX_RECORD_BYTES):
            if raw.data is None:
                bad[raw.number] = f"line is longer than {MAX_RECORD_BYTES} bytes"
                yield "\n"
                continue
            try:
                yield raw.data.decode("utf-8", errors="strict")
            except UnicodeDecodeError as exc:
                bad[raw.number] = f"invalid UTF-8 at byte offset {raw.offset + exc.start}"
                # Keep the row's shape so that the parser stays in step; the row is refused below.
                yield raw.data.decode("utf-8", errors="replace")

    def _header(self, reader: Iterator[list[str]], bad: dict[int, str]) -> list[str] | LineError | None:
        try:
            names = next(reader)
        except StopIteration:
            return None  # an empty file imports nothing
        except csv.Error as exc:
            return LineError(1, None, f"unreadable header: {exc}")
        if bad:
            return LineError(1, None, f"header: {bad[min(bad)]}")
        header = [name.strip().casefold() for name in names]
        duplicates = sorted({name for name in header if name and header.count(name) > 1})
        if duplicates:
            return LineError(1, duplicates[0], f"duplicate columns: {', '.join(duplicates)}")
        has = set(header)
        if not (has >= set(FACT_FIELDS) or has >= set(EDIT_FIELDS)):
            # Name what is missing for the form the header comes closer to.
            wanted = EDIT_FIELDS if "target_new" in has or "prompt" in has else FACT_FIELDS
            missing = [name for name in wanted if name not in has]
            return LineError(1, missing[0], f"missing columns: {', '.join(missing)} (a fact needs "
                                            f"{', '.join(FACT_FIELDS)}; an edit request needs {', '.join(EDIT_FIELDS)})")
        ignored = [name for name in header if name not in FIELDS]
        if ignored:
            logger.warning("ignoring unknown columns %s", ", ".join(repr(n) for n in ignored))
        return header

    def _rows(self, reader: Iterator[list[str]], header: list[str], bad: dict[int, str]) -> Iterator[Record]:
        fact_form = set(header) >= set(FACT_FIELDS)
        last = 1  # the physical line where the previous row ended
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                line = last + 1
                last = reader.line_num  # type: ignore[attr-defined]
                yield line, LineError(line, None, f"unreadable row: {exc}")
                continue
            line, last = last + 1, reader.line_num  # type: ignore[attr-defined]
            problems = [bad.pop(n) for n in range(line, last + 1) if n in bad]
            if problems:
                yield line, LineError(line, None, problems[0])
                continue
            if not row or (len(row) == 1 and not row[0].strip() and len(header) > 1):
                continue  # blank line
            if len(row) != len(header):
                yield line, LineError(line, None, f"has {len(row)} columns; the header has {len(header)}")
                continue
            yield self.to_record(line, _mapping(header, row, fact_form))


def _mapping(header: list[str], row: list[str], fact_form: bool) -> dict[str, str]:
    cells = {name: value for name, value in zip(header, row) if name in FIELDS}
    # A header may carry both forms; a row is an edit request when its target_new is filled in,
    # or when the header has no fact columns at all.
    edit = bool(cells.get("target_new", "").strip()) or not fact_form
    required = EDIT_FIELDS if edit else FACT_FIELDS
    # Empty optional cells are absent; empty required ones stay, to be reported as empty.
    return {name: value for name, value in cells.items() if value.strip() or name in required}


class TSVImporter(CSVImporter):
    """Reads a tab-separated file with a header, as CSVImporter does.

    Fields are not quoted (the IANA text/tab-separated-values convention): a `"` is an ordinary
    character, so titles such as `The "Boss"` survive, and a field cannot hold a tab or newline.
    """

    format = "tsv"
    delimiter = "\t"
    quoting = csv.QUOTE_NONE
