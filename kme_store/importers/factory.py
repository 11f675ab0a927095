"""Chooses the parser for a file: by the format's name, by extension, or by the first record's keys."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from kme_store.errors import FieldError
from kme_store.facts import Limits
from kme_store.importers.base import EDIT_FIELDS, FACT_FIELDS, Importer, PathLike, Record
from kme_store.importers.counterfact import CounterFactImporter
from kme_store.importers.delimited import CSVImporter, TSVImporter
from kme_store.importers.jsonarray import JSONArrayImporter
from kme_store.importers.jsonl import JSONLImporter
from kme_store.importers.jsonstream import JSONStreamError, iter_array
from kme_store.importers.mquake import MQuAKEImporter
from kme_store.importers.zsre import ZsREImporter

logger = logging.getLogger(__name__)

_IMPORTERS: dict[str, type[Importer]] = {cls.format: cls for cls in (
    JSONLImporter, CSVImporter, TSVImporter, JSONArrayImporter, MQuAKEImporter, CounterFactImporter, ZsREImporter)}
FORMATS: tuple[str, ...] = tuple(_IMPORTERS)
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv"}


def create(format: str, *, limits: Limits, world: bool = False, source: str | None = None) -> Importer:
    """Return the parser for a format name (one of FORMATS); raise FieldError('format') if unknown.

    `world` asks the MQuAKE parser for the cases' original chains too; other formats have none
    and ignore it.
    """
    cls = _IMPORTERS.get(format)
    if cls is None:
        raise FieldError("format", f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    if cls is MQuAKEImporter:
        return MQuAKEImporter(limits, source, world=world)
    return cls(limits, source)


def detect_format(path: PathLike) -> str:
    """Return the format of a file, one of FORMATS.

    `.jsonl`/`.ndjson`, `.csv` and `.tsv` are known by their extension. Anything else is sniffed:
    a file starting with `{` is JSON Lines; a JSON array is told by its first record's keys
    (`requested_rewrite` as a list: mquake; `target_new` with `rephrase_prompt` or
    `locality_prompt`, or `requested_rewrite` as an object: counterfact; `src` and `alt`: zsre;
    the fields of a fact or an edit request, or no records at all: json). Raises FieldError
    ('format') naming the path when none fits, and OSError when the file cannot be read.
    """
    path = Path(path)
    by_extension = _EXTENSIONS.get(path.suffix.casefold())
    if by_extension:
        return by_extension
    with open(path, "rb") as stream:
        head = stream.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        if head.startswith(b"{"):
            return "jsonl"
        if not head.startswith(b"["):
            raise FieldError("format", f"cannot tell the format of {str(path)!r}: not JSON and no known extension "
                                       "(.jsonl, .ndjson, .csv, .tsv); name the format")
        stream.seek(0)
        try:
            first = next(iter_array(stream), None)
        except JSONStreamError as exc:
            raise FieldError("format", f"cannot tell the format of {str(path)!r}: {exc}") from None
    if first is None:
        return "json"
    record = first[1]
    keys = set(record) if isinstance(record, dict) else set()
    rewrite = record.get("requested_rewrite") if isinstance(record, dict) else None
    if isinstance(rewrite, list):
        return "mquake"
    if isinstance(rewrite, dict) or ("target_new" in keys and keys & {"rephrase_prompt", "locality_prompt"}):
        return "counterfact"
    if {"src", "alt"} <= keys:
        return "zsre"
    if keys >= set(FACT_FIELDS) or keys >= set(EDIT_FIELDS):
        return "json"
    shown = ", ".join(sorted(keys)[:12]) if keys else f"a {type(record).__name__}"
    raise FieldError("format", f"cannot tell the format of {str(path)!r}: its first record has {shown}; name the format")


def open_records(path: PathLike, format: str | None = None, *, limits: Limits, world: bool = False,
                 source: str | None = None) -> Iterator[Record]:
    """Return an iterator of `(line, Fact | LineError)` over a file, read as it is consumed.

    `format` is one of FORMATS, or None to detect it. The format is checked and detected now,
    so that a bad format or a missing file raises here (FieldError('format'), OSError) rather
    than at the first `next()`. `line` is the physical line for jsonl/csv/tsv and the record's
    1-based index in the array for the JSON-array formats.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    chosen = format or detect_format(path)
    importer = create(chosen, limits=limits, world=world, source=source)
    logger.debug("importing %s as %s", path, chosen)
    return importer.records(path)
