"""Answer matching: normalized text, whole words. How an outside scorer matches answers, and how
the answerer checks that a counterfactual completion states its edit's object."""
from __future__ import annotations

from typing import Iterable


def normalize(text: str) -> str:
    """Lower case, every run of non-alphanumeric characters one space, trimmed."""
    return " ".join("".join(ch.lower() if ch.isalnum() else " " for ch in text).split())


def contains(answer: str, targets: Iterable[str]) -> bool:
    """True when one of `targets` appears in `answer` as whole words, after normalizing both.

    "Paris" matches "It is Paris, France" but not "Parisian"; an empty target matches nothing.
    """
    padded = f" {normalize(answer)} "
    return any((t := normalize(target)) and f" {t} " in padded for target in targets)


__all__ = ["contains", "normalize"]
