"""JSON arrays of records, read one element at a time; the base of the benchmark formats."""
from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Any

from kme_store.facts import LineError
from kme_store.importers.base import Importer, PathLike, Record
from kme_store.importers.jsonstream import JSONStreamError, iter_array


class JSONArrayImporter(Importer):
    """Reads a `.json` file holding an array of fact or edit-request objects.

    For every JSON-array format, `line` is the record's 1-based index in the array, not a line
    of the file. Invalid JSON or UTF-8 inside the array ends the import with one LineError at
    that record, since the parser cannot find where the next record starts.
    """

    format = "json"

    def records(self, path: PathLike) -> Iterator[Record]:
        yield from self.read(path, self.convert)

    def read(self, path: PathLike, convert: Callable[[int, dict[str, Any]], Iterator[Record]]
             ) -> Generator[Record, None, bool]:
        """Yield `convert(index, element)` for each object of the array; return False if cut short."""
        with open(path, "rb") as stream:
            try:
                for index, value in iter_array(stream):
                    if not isinstance(value, dict):
                        yield index, LineError(index, None, f"must be a JSON object, not {type(value).__name__}")
                        continue
                    yield from convert(index, value)
            except JSONStreamError as exc:
                yield exc.index, LineError(exc.index, None, exc.reason)
                return False
        return True

    def convert(self, index: int, record: dict[str, Any]) -> Iterator[Record]:
        """Turn one array element into records; formats override this. Here: a plain fact or edit."""
        yield self.to_record(index, record)


def first_string(value: Any) -> Any:
    """The text of a benchmark answer given as a string, a {"str": ...} object or a list of them.

    Anything else is returned as it is, for the validation to refuse with a clear reason.
    """
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("str")
    return value
