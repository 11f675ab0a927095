"""Deadline handling shared by the servicers."""
from __future__ import annotations

import time

import grpc

from kme_server.errors import DeadlineTooShort

# Below this much time left, long work is not started: it could not finish, and a thread would be
# spent on an answer nobody reads.
MIN_REMAINING_S = 0.05


def deadline_of(context: grpc.aio.ServicerContext, min_remaining_s: float = MIN_REMAINING_S) -> float | None:
    """The call's deadline as a time.monotonic() value (None: no deadline).

    Raises DeadlineTooShort when less than `min_remaining_s` is left.
    """
    remaining = context.time_remaining()
    if remaining is None:
        return None
    if remaining < min_remaining_s:
        raise DeadlineTooShort(f"only {remaining * 1000:.0f} ms left on the deadline")
    return time.monotonic() + remaining
