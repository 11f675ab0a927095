"""Pure text helpers of decoding: stop strings and incremental detokenization (no torch)."""
from __future__ import annotations

from typing import Callable, Sequence

# What a byte-level tokenizer decodes an incomplete UTF-8 sequence to.
_REPLACEMENT = "\ufffd"
# Prompt tokens decoded with the completion so that a leading space ("▁Paris") survives the
# SentencePiece rule that strips the first token's space; a few are enough for any tokenizer.
_CONTEXT_TOKENS = 4


def find_stop(text: str, stops: Sequence[str]) -> int:
    """Index where the earliest stop string starts in `text`, or -1 when none occurs."""
    found = [index for index in (text.find(stop) for stop in stops if stop) if index >= 0]
    return min(found) if found else -1


def stop_prefix_len(text: str, stops: Sequence[str]) -> int:
    """Length of the longest end of `text` that could still grow into a stop string.

    Streaming holds that much text back, so a piece it yields is never cut away later.
    """
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


class IncrementalDecoder:
    """The completion's text so far, decoded from its tokens in the context of the prompt's end.

    decode(prompt_tail + generated) minus decode(prompt_tail) keeps spaces and multi-token
    characters right where decoding the generated tokens alone would not.
    """

    def __init__(self, decode: Callable[[list[int]], str], prompt_ids: Sequence[int]) -> None:
        self._decode = decode
        self._context = list(prompt_ids[-_CONTEXT_TOKENS:])
        self._base = decode(self._context)

    def text(self, generated: Sequence[int]) -> str:
        """The full completion text for `generated` (a trailing partial character left out)."""
        whole = self._decode(self._context + list(generated))
        if whole.startswith(self._base):
            text = whole[len(self._base) :]
        else:  # the context merged with the completion in decoding: fall back to the tokens alone
            text = self._decode(list(generated))
        # an incomplete UTF-8 sequence waits for the tokens that finish it
        return text.rstrip(_REPLACEMENT) if text.endswith(_REPLACEMENT) else text
