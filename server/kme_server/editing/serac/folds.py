"""Cross-fitting folds: training the scope classifier on records of a set that is also evaluated.

zsRE's development records are both a training source of the scope classifier (the only data with
its question style and its relations) and an evaluation set. A classifier that has seen a record's
rephrase cannot be scored on it, so the benchmark cross-fits: the records are split into folds by
subject, a classifier is trained without each fold, and each fold is scored by the classifier that
never saw it (`kme eval zsre --fold K/N`, `bench/run_quality.sh zsre-crossfit`). The classifier the service
ships is trained on every record.

The fold depends on the subject alone (a hash, not the record's position), so that training and
evaluation agree on it whatever order or sample of the records each reads.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from kme_store.errors import FieldError
from kme_store.facts import normalize_name


def fold_of(subject: str, folds: int) -> int:
    """The fold (0 .. folds-1) of a record about `subject`."""
    if folds < 1:
        raise ValueError(f"folds must be at least 1, got {folds}")
    digest = hashlib.sha256(normalize_name(subject).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % folds


@dataclass(frozen=True, slots=True)
class Fold:
    """Fold `index` of `folds`, as written on the command line: "K/N"."""

    index: int
    folds: int

    @classmethod
    def parse(cls, text: str, field: str = "fold") -> Fold:
        try:
            k, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise FieldError(field, f"{text!r} is not K/N (for example 0/2)") from None
        if n < 2 or not 0 <= k < n:
            raise FieldError(field, f"{text!r}: need N >= 2 and 0 <= K < N")
        return cls(k, n)

    def holds(self, subject: str) -> bool:
        return fold_of(subject, self.folds) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.folds}"


def records_to_train(value: str, field: str = "zsre") -> Fold | bool:
    """A trainer's `--zsre` setting: "all" (True), "none" (False) or "K/N" (every record outside
    fold K, for the cross-fitted benchmark). A bad value raises FieldError naming `field`."""
    if value in ("all", "none"):
        return value == "all"
    return Fold.parse(value, field)


__all__ = ["Fold", "fold_of", "records_to_train"]
