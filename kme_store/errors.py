"""Errors the store raises; each says what is wrong and, for bad input, which field."""
from __future__ import annotations


class StoreError(Exception):
    """Base of every error kme_store raises on purpose."""


class FieldError(StoreError, ValueError):
    """A field of an input record is bad. `field` is None when the record as a whole is bad."""

    def __init__(self, field: str | None, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class NotFoundError(StoreError, KeyError):
    """An id (fact, edit or batch) that the store does not hold."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else "not found"


class StoreLockedError(StoreError):
    """Another process holds the store open for writing."""


class ReadOnlyError(StoreError):
    """A write was attempted on a store opened read-only."""


class ImportAborted(StoreError):
    """An import run with `strict=True` met a bad line; nothing of the file was stored."""

    def __init__(self, errors: list) -> None:
        self.errors = errors
        first = errors[0] if errors else "unknown error"
        super().__init__(f"import refused: {first}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
