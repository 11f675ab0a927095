"""Maps domain errors to gRPC status codes with rich details, in one interceptor for every method."""
from __future__ import annotations

import logging
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from kme_store.errors import (FieldError, ImportAborted, NotFoundError, ReadOnlyError, StoreError,
                              StoreLockedError)

log = logging.getLogger(__name__)

# The trailer in which gRPC carries a serialized google.rpc.Status (what grpc_status reads).
STATUS_DETAILS_KEY = "grpc-status-details-bin"


class ServiceError(Exception):
    """An error of the service itself (not of the store), with the status code it maps to."""

    code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class LimitExceeded(ServiceError):
    """A request over a configured limit (batch size, queue length)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class NotReady(ServiceError):
    """The answering engine is not loaded yet (or failed to load)."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlineTooShort(ServiceError):
    """Too little time is left on the call's deadline to start (or go on with) long work."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


def to_status(exc: BaseException) -> tuple[grpc.StatusCode, str, status_pb2.Status | None]:
    """The status code, message and (for bad input) the rich status that `exc` maps to."""
    if isinstance(exc, FieldError):
        return _bad_request(str(exc), [(exc.field or "", exc.reason)])
    if isinstance(exc, ImportAborted):
        # One violation per refused line, so that a client can show every bad line at once.
        violations = [(f"line[{e.line}]" + (f".{e.field}" if e.field else ""), e.reason) for e in exc.errors]
        return _bad_request(str(exc), violations)
    if isinstance(exc, NotFoundError):
        return grpc.StatusCode.NOT_FOUND, str(exc), None
    if isinstance(exc, (StoreLockedError, ReadOnlyError)):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc), None
    if isinstance(exc, ServiceError):
        if exc.field is not None:
            code, message, status = _bad_request(str(exc), [(exc.field, str(exc))])
            status.code = exc.code.value[0]
            return exc.code, message, status
        return exc.code, str(exc), None
    if isinstance(exc, StoreError):
        log.exception("store error", exc_info=exc)
        return grpc.StatusCode.INTERNAL, str(exc), None
    log.error("unexpected error", exc_info=exc)
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}", None


def _bad_request(message: str, violations: Iterable[tuple[str, str]]) -> tuple[grpc.StatusCode, str, status_pb2.Status]:
    detail = error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations])
    packed = any_pb2.Any()
    packed.Pack(detail)
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message, details=[packed])
    return grpc.StatusCode.INVALID_ARGUMENT, message, status


async def abort_with(context: grpc.aio.ServicerContext, exc: BaseException) -> None:
    """End the call with the status `exc` maps to (raises, as context.abort does)."""
    code, message, status = to_status(exc)
    trailers: tuple[tuple[str, Any], ...] = ()
    if status is not None:
        trailers = ((STATUS_DETAILS_KEY, status.SerializeToString()),)
    await context.abort(code, message, trailing_metadata=trailers)


def _passes_through(exc: BaseException) -> bool:
    # An abort already chose its status; cancellation must reach the gRPC machinery unchanged.
    return isinstance(exc, grpc.aio.AbortError)


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every method so that a domain exception becomes the right status with details."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(("/grpc.health", "/grpc.reflection")):
            return handler
        return wrap_handler(handler, _mapped_unary, _mapped_stream)


async def _mapped_unary(behaviour: Callable[..., Any], request: Any, context: grpc.aio.ServicerContext) -> Any:
    try:
        return await behaviour(request, context)
    except Exception as exc:  # noqa: BLE001 - every domain error is mapped; the rest become INTERNAL
        if _passes_through(exc):
            raise
        await abort_with(context, exc)


async def _mapped_stream(behaviour: Callable[..., Any], request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    try:
        async for response in behaviour(request, context):
            yield response
    except Exception as exc:  # noqa: BLE001
        if _passes_through(exc):
            raise
        await abort_with(context, exc)


def wrap_handler(handler: grpc.RpcMethodHandler, unary: Callable[..., Any], stream: Callable[..., Any]) -> grpc.RpcMethodHandler:
    """The same handler with its behaviour run through `unary` or `stream` (by response kind).

    The wrappers are real `async def` functions, not lambdas: grpc.aio tells coroutine handlers
    from blocking ones by inspection, and would run a lambda in a thread.
    """
    ser = dict(request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
    if handler.unary_unary or handler.stream_unary:
        inner = handler.unary_unary or handler.stream_unary

        async def unary_behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            return await unary(inner, request, context)

        make = grpc.unary_unary_rpc_method_handler if handler.unary_unary else grpc.stream_unary_rpc_method_handler
        return make(unary_behaviour, **ser)
    inner = handler.unary_stream or handler.stream_stream

    async def stream_behaviour(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for response in stream(inner, request, context):
            yield response

    make = grpc.unary_stream_rpc_method_handler if handler.unary_stream else grpc.stream_stream_rpc_method_handler
    return make(stream_behaviour, **ser)
