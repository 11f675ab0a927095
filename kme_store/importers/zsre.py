"""zsRE question-answering edits in MEND's form (`subject, src, alt, answers, rephrase, loc`)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kme_store.importers.base import Record
from kme_store.importers.jsonarray import JSONArrayImporter, first_string


# Our field names -> zsRE's, for error messages.
_NAMES = {"prompt": "src", "target_new": "alt", "ground_truth": "answers"}


class ZsREImporter(JSONArrayImporter):
    """Reads `zsre-*.json`: each record is the edit request {prompt: src, target_new: alt}.

    The question must name the subject (case-insensitively) for the relation's template to be
    derived; a record whose question does not is refused with an error on `prompt`. `line` is
    the record's 1-based index in the array.
    """

    format = "zsre"

    def convert(self, index: int, record: dict[str, Any]) -> Iterator[Record]:
        yield self.to_record(index, {
            "prompt": record.get("src"),
            "subject": record.get("subject"),
            "target_new": first_string(record.get("alt")),
            "ground_truth": first_string(record.get("answers")),
        }, _NAMES)
