"""The base of the bulk-import parsers: what a record is and how a mapping becomes one."""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, TypeAlias

from kme_store.errors import FieldError
from kme_store.facts import Fact, Limits, LineError, fact_from_mapping

# What every parser yields: the 1-based line (or, for JSON arrays, record) number and either the
# validated fact or the reason the record was refused.
Record: TypeAlias = tuple[int, Fact | LineError]
PathLike: TypeAlias = str | os.PathLike[str]

# The input fields a record may carry, in either the fact form or the edit-request form.
FIELDS: tuple[str, ...] = ("subject", "relation", "relation_id", "object", "object_aliases", "template",
                           "prompt", "target_new", "ground_truth")
FACT_FIELDS: tuple[str, ...] = ("subject", "relation", "object")
EDIT_FIELDS: tuple[str, ...] = ("prompt", "subject", "target_new")

# A record longer than this is refused without being parsed, so that one runaway line (a file
# without newlines, a missing closing quote) cannot make memory grow with the file. The largest
# valid record (64 aliases of 1000 characters, each escaped as \uXXXX surrogate pairs) is below it.
MAX_RECORD_BYTES = 4 << 20


class Importer(ABC):
    """A streaming parser of one file format.

    `records(path)` yields `(line, Fact | LineError)` in file order and holds at most one record
    in memory, whatever the file's size. A bad record becomes a LineError and the parser goes on
    with the next one, unless the format makes that impossible (invalid JSON inside an array),
    in which case the LineError says that the rest of the file was not read.
    """

    format: ClassVar[str]

    def __init__(self, limits: Limits, source: str | None = None) -> None:
        self.limits = limits
        # Stored on every fact as its provenance unless a record names its own `source`.
        self.source = source

    @abstractmethod
    def records(self, path: PathLike) -> Iterator[Record]:
        """Yield the file's records as `(line, Fact | LineError)`; raise OSError if it cannot be read."""

    def to_record(self, line: int, mapping: Mapping[str, Any] | Any,
                  names: Mapping[str, str] | None = None) -> Record:
        """Validate one mapping (fact or edit-request form) as `(line, Fact)`, or `(line, LineError)`.

        `names` maps our field names to the file's own (zsRE's `src` for `prompt`), so that an
        error names the field as the user's file spells it.
        """
        try:
            return line, fact_from_mapping(mapping, self.limits, self.source)
        except FieldError as exc:
            return line, LineError(line, _rename(exc.field, names or {}), exc.reason)


def _rename(field: str | None, names: Mapping[str, str]) -> str | None:
    if field is None:
        return None
    # "object_aliases[2]" keeps its index under the file's name for the list.
    head, bracket, rest = field.partition("[")
    return names[head] + bracket + rest if head in names else field
