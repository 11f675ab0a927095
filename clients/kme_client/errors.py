"""Typed exceptions of the client, one per gRPC status a caller may want to handle."""
from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

_DETAILS_KEY = "grpc-status-details-bin"


class KMEError(Exception):
    """Base of every error the client raises for a failed call. `code` is the gRPC status name."""

    def __init__(self, message: str, code: str = "UNKNOWN",
                 violations: list[tuple[str, str]] | None = None) -> None:
        self.code = code
        self.details = message
        # (field, description) pairs from google.rpc.BadRequest, when the server sent them.
        self.violations = violations or []
        # Violations the message does not already state are listed under it, one per line.
        extra = [f"  {f or '(record)'}: {d}" for f, d in self.violations if f"{f}: {d}" not in message]
        if extra:
            message = message + "\n" + "\n".join(extra)
        super().__init__(message)


class InvalidArgument(KMEError, ValueError):
    """The request was refused as bad input; `violations` names the fields."""


class NotFound(KMEError, LookupError):
    """The fact, edit or batch does not exist."""


class Unauthenticated(KMEError):
    """Missing or wrong bearer token."""


class PermissionDenied(KMEError):
    pass


class FailedPrecondition(KMEError):
    """The store cannot do this now (locked by another process, opened read-only)."""


class ResourceExhausted(KMEError):
    """A limit was hit: message size, batch size, or the server's queue is full."""


class Unavailable(KMEError):
    """The server cannot be reached, or the answering engine is not ready yet."""


class DeadlineExceeded(KMEError, TimeoutError):
    """The call did not finish within its timeout."""


class Cancelled(KMEError):
    pass


_BY_CODE: dict[grpc.StatusCode, type[KMEError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
}


def violations_of(error: Any) -> list[tuple[str, str]]:
    """The BadRequest field violations in a failed call's trailers (empty if none)."""
    try:
        trailers = error.trailing_metadata() or ()
    except Exception:  # noqa: BLE001 - some errors (channel closed) carry no trailers
        return []
    out: list[tuple[str, str]] = []
    for key, value in trailers:
        if key != _DETAILS_KEY:
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                out.extend((v.field, v.description) for v in bad.field_violations)
    return out


def from_rpc_error(error: grpc.RpcError) -> KMEError:
    """The typed exception for a failed call."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = (error.details() if hasattr(error, "details") else None) or str(error)
    cls = _BY_CODE.get(code, KMEError)
    return cls(details, code=code.name if code else "UNKNOWN", violations=violations_of(error))
