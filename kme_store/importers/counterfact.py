"""CounterFact (ROME) records as edit requests, in the flat EasyEdit form or ROME's own."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kme_store.importers.base import Record
from kme_store.importers.jsonarray import JSONArrayImporter, first_string


# Our field names -> where ROME's form keeps them, for error messages.
_ROME_NAMES = {name: f"requested_rewrite.{name}" for name in ("prompt", "subject", "target_new", "relation_id")}
_ROME_NAMES["ground_truth"] = "requested_rewrite.target_true"


class CounterFactImporter(JSONArrayImporter):
    """Reads `counterfact-*.json`: one edit request per record.

    The flat form (`prompt, subject, target_new, ground_truth, rephrase_prompt, ...`) and ROME's
    original form (`requested_rewrite: {prompt with {}, subject, relation_id, target_new.str,
    target_true.str}`) are both accepted; evaluation prompts (rephrase, locality) are not facts
    and are ignored. `line` is the record's 1-based index in the array.
    """

    format = "counterfact"

    def convert(self, index: int, record: dict[str, Any]) -> Iterator[Record]:
        rewrite = record.get("requested_rewrite")
        rome_form = isinstance(rewrite, dict)
        source = rewrite if rome_form else record
        yield self.to_record(index, {
            "prompt": source.get("prompt"),
            "subject": source.get("subject"),
            "target_new": first_string(source.get("target_new")),
            "ground_truth": first_string(source.get("ground_truth", source.get("target_true"))),
            "relation_id": source.get("relation_id"),
        }, _ROME_NAMES if rome_form else None)
