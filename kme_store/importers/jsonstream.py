"""An incremental reader of a top-level JSON array that decodes one element at a time."""
from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from kme_store.importers.base import MAX_RECORD_BYTES

_WHITESPACE = " \t\n\r"
# How many characters before the end of the buffer a decode error may sit and still be caused by
# the buffer ending mid-record rather than by bad JSON (a cut "\uXXXX" escape or "true").
_TRUNCATION_SLACK = 8


class JSONStreamError(ValueError):
    """The array cannot be read on from here. `index` is the 1-based element it happened at."""

    def __init__(self, index: int, reason: str) -> None:
        self.index = index
        self.reason = reason
        super().__init__(f"record {index}: {reason}")


class _Buffer:
    """Decoded text of the stream, refilled on demand; characters before `pos` are consumed."""

    def __init__(self, stream: BinaryIO, chunk_bytes: int) -> None:
        self._stream = stream
        self._chunk = chunk_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._bytes_read = 0
        self.text = ""
        self.pos = 0
        self.consumed = 0  # characters dropped from the front of `text`, for error positions
        self.eof = False
        self.first = True

    def fill(self, index: int, at_least: int = 0) -> bool:
        """Append at least one chunk (or `at_least` bytes); return False at end of file."""
        if self.eof:
            return False
        # Drop what has been consumed so the buffer holds at most the current record and a chunk.
        if self.pos:
            self.consumed += self.pos
            self.text = self.text[self.pos:]
            self.pos = 0
        data = self._stream.read(max(self._chunk, at_least))
        pending = len(self._decoder.getstate()[0])
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            offset = self._bytes_read - pending + exc.start
            raise JSONStreamError(index, f"invalid UTF-8 at byte offset {offset}; the rest of the file was not read") from None
        self._bytes_read += len(data)
        if self.first and text.startswith("\ufeff"):
            text = text[1:]  # a byte-order mark is not JSON, but editors write one
            self.consumed += 1
        self.first = False
        self.text += text
        if not data:
            self.eof = True
        return True

    def peek(self, index: int) -> str:
        """Skip whitespace and return the next character, or "" at end of file."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.fill(index):
                return ""

    def where(self) -> int:
        return self.consumed + self.pos


def iter_array(stream: BinaryIO, *, chunk_bytes: int = 1 << 16,
               max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[tuple[int, Any]]:
    """Yield `(index, value)` for each element of the JSON array in a binary UTF-8 stream.

    `index` is 1-based. Memory holds one element plus a chunk, never the whole array. Raises
    JSONStreamError when the stream is not an array, holds invalid JSON or invalid UTF-8, or an
    element is over `max_record_bytes` characters: past such a point the array cannot be
    resynchronised, so the error is final.
    """
    decoder = json.JSONDecoder()
    buf = _Buffer(stream, chunk_bytes)
    first = buf.peek(1)
    if first != "[":
        found = "an empty file" if not first else f"{first!r}"
        raise JSONStreamError(1, f"expected a JSON array ('['), found {found}")
    buf.pos += 1
    if buf.peek(1) == "]":
        buf.pos += 1
        _expect_end(buf, 1)
        return
    index = 0
    while True:
        index += 1
        if buf.peek(index) == "":
            raise JSONStreamError(index, "the array is not closed (file ends)")
        yield index, _decode_one(decoder, buf, index, max_record_bytes)
        sep = buf.peek(index)
        if sep == "]":
            buf.pos += 1
            _expect_end(buf, index)
            return
        if sep != ",":
            found = "the end of the file" if not sep else repr(sep)
            raise JSONStreamError(index, f"expected ',' or ']' after this record, found {found} "
                                         f"at character {buf.where()}; the rest of the file was not read")
        buf.pos += 1
        if buf.peek(index + 1) == "]":
            raise JSONStreamError(index + 1, f"trailing comma before ']' at character {buf.where()}")


def _decode_one(decoder: json.JSONDecoder, buf: _Buffer, index: int, max_record_bytes: int) -> Any:
    while True:
        try:
            value, end = decoder.raw_decode(buf.text, buf.pos)
        except json.JSONDecodeError as exc:
            truncated = exc.pos >= len(buf.text) - _TRUNCATION_SLACK or exc.msg.startswith("Unterminated string")
            too_long = len(buf.text) - buf.pos > max_record_bytes
            # Read more when the error may only mean that the buffer ends inside the record;
            # doubling the read keeps re-decoding of a long record linear overall.
            if truncated and not too_long and buf.fill(index, at_least=len(buf.text) - buf.pos):
                continue
            if too_long:
                raise JSONStreamError(index, f"record is invalid JSON or longer than {max_record_bytes} "
                                             "characters; the rest of the file was not read") from None
            raise JSONStreamError(index, f"invalid JSON: {exc.msg} at character {buf.consumed + exc.pos}; "
                                         "the rest of the file was not read") from None
        # A number or literal that ends exactly at the buffer's end may continue in the next chunk.
        if end == len(buf.text) and not buf.eof and buf.fill(index):
            continue
        buf.pos = end
        return value


def _expect_end(buf: _Buffer, index: int) -> None:
    if buf.peek(index) != "":
        raise JSONStreamError(index, f"unexpected data after the array at character {buf.where()}")
