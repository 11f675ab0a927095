"""Physical lines of a file as bytes with their numbers and byte offsets, for line formats."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class RawLine:
    """One physical line as read, before decoding."""

    number: int  # 1-based
    offset: int  # byte offset of the line's first byte in the file
    data: bytes | None  # the line with its terminator; None when it was longer than the limit
    length: int  # bytes the line took in the file, terminator included


def read_lines(stream: BinaryIO, max_bytes: int) -> Iterator[RawLine]:
    """Yield the lines of a binary stream, split on b"\\n", without holding more than one.

    A leading UTF-8 byte-order mark is dropped (offsets still count it). A line longer than
    `max_bytes` is skipped in pieces and yielded with `data=None`, so memory stays bounded.
    """
    offset = 0
    number = 0
    while True:
        data = stream.readline(max_bytes + 1)
        if not data:
            return
        number += 1
        start = offset
        offset += len(data)
        if number == 1 and data.startswith(_BOM):
            data = data[len(_BOM):]
        if len(data) > max_bytes and not data.endswith(b"\n"):
            # Read past the rest of the runaway line without keeping it.
            while (rest := stream.readline(max_bytes)) and not rest.endswith(b"\n"):
                offset += len(rest)
            offset += len(rest)
            yield RawLine(number, start, None, offset - start)
            continue
        yield RawLine(number, start, data, offset - start)
