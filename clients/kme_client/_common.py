"""What the sync and async clients share: channel options, credentials, the retry policy."""
from __future__ import annotations

import random
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import grpc

# The server refuses larger messages anyway; the client must at least accept what it may send.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
# Items per AddFacts request when the server's limit is unknown (it says so in Stats).
DEFAULT_BATCH = 500
# Raw bytes per ImportFacts chunk message.
FILE_CHUNK_BYTES = 1024 * 1024

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # The client does its own retries, only on idempotent calls; gRPC's transparent retries of
    # unsent requests stay on.
    ("grpc.enable_retries", 1),
]

# Calls that change nothing (or end in the same state when repeated) are retried on UNAVAILABLE.
# AddFacts, ImportFacts and Rollback are not: repeating them would store or undo twice.
IDEMPOTENT = frozenset({"GetFact", "ListFacts", "Retrieve", "Stats", "Ask", "Score", "Check", "DeleteFacts"})
RETRYABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: attempt n waits up to min(cap, base * 2**n) seconds."""

    retries: int = 3
    base_s: float = 0.1
    cap_s: float = 2.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap_s, self.base_s * 2 ** attempt))

    def should_retry(self, method: str, error: grpc.RpcError, attempt: int) -> bool:
        code = error.code() if hasattr(error, "code") else None
        return method in IDEMPOTENT and code in RETRYABLE_CODES and attempt < self.retries


def credentials(tls: bool | str | PathLike[str]) -> grpc.ChannelCredentials | None:
    """None for plaintext; TLS with the system roots (True) or with a root certificate file."""
    if tls is False or tls is None:
        return None
    if tls is True:
        return grpc.ssl_channel_credentials()
    return grpc.ssl_channel_credentials(root_certificates=Path(tls).read_bytes())


def metadata(token: str | None) -> tuple[tuple[str, str], ...] | None:
    return (("authorization", f"Bearer {token}"),) if token else None


def file_name(source: Any) -> str | None:
    """The path of `source` when it names a file (str or PathLike), else None."""
    if isinstance(source, (str, PathLike)):
        return str(source)
    return None
