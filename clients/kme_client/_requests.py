"""Request streams and chunking shared by the sync and async clients."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from kme.v1 import knowledge_pb2
from kme_client import _convert
from kme_client._common import FILE_CHUNK_BYTES, file_name
from kme_client.errors import KMEError

Progress = Callable[[int, "int | None"], Any]


def import_requests(source: Iterable[Any] | str | os.PathLike[str], *, format: str | None, batch_size: int,
                    strict: bool, batch_id: str | None, source_name: str | None,
                    progress: Progress | None) -> Iterator[knowledge_pb2.ImportFactsRequest]:
    """Options first, then the file's raw chunks (a path) or the items in batches (an iterable).

    `progress(done, total)` is called as messages are handed to gRPC: bytes of the file (total
    known), or items (total None).
    """
    path = file_name(source)
    options = knowledge_pb2.ImportOptions(format=format or "", strict=strict, batch_id=batch_id or "",
                                          source=source_name or "", filename=Path(path).name if path else "")
    yield knowledge_pb2.ImportFactsRequest(options=options)
    if path is not None:
        total = os.path.getsize(path)
        done = 0
        with open(path, "rb") as handle:
            while chunk := handle.read(FILE_CHUNK_BYTES):
                yield knowledge_pb2.ImportFactsRequest(chunk=chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        return
    batch: list[Any] = []
    sent = 0
    for item in source:  # type: ignore[union-attr]
        batch.append(item)
        if len(batch) >= batch_size:
            yield _items_message(batch, sent)
            sent += len(batch)
            batch = []
            if progress:
                progress(sent, None)
    if batch:
        yield _items_message(batch, sent)
        sent += len(batch)
        if progress:
            progress(sent, None)


def _items_message(batch: list[Any], start: int) -> knowledge_pb2.ImportFactsRequest:
    return knowledge_pb2.ImportFactsRequest(items=knowledge_pb2.ImportItems(items=_convert.items_to_pb(batch, start)))


class Capture:
    """Runs a request iterator and keeps its exception, which gRPC would turn into CANCELLED."""

    def __init__(self, requests: Iterable[Any]) -> None:
        self._requests = requests
        self.error: BaseException | None = None

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._requests
        except BaseException as exc:
            self.error = exc
            raise


def chunks(items: list[Any], size: int) -> Iterator[tuple[int, list[Any]]]:
    for start in range(0, len(items), size):
        yield start, items[start:start + size]


def shifted(error: KMEError, offset: int) -> KMEError:
    """`error` with its item indices counted from the start of the caller's list."""
    if not offset or not error.violations:
        return error
    return type(error)(error.details, code=error.code, violations=_convert.shift_violations(error.violations, offset))
