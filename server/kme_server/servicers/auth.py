"""Optional bearer-token authentication of every call but health checks."""
from __future__ import annotations

import hmac
from typing import Any, Awaitable, Callable

import grpc

from kme_server.errors import wrap_handler

# Load balancers and orchestrators probe health without credentials.
_OPEN_PREFIXES = ("/grpc.health.v1.Health/",)


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without `authorization: Bearer <token>` with UNAUTHENTICATED."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method.startswith(_OPEN_PREFIXES) or self._authorized(details):
            return handler
        return wrap_handler(handler, _refuse_unary, _refuse_stream)

    def _authorized(self, details: grpc.HandlerCallDetails) -> bool:
        for key, value in details.invocation_metadata or ():
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else value
                # Constant-time comparison, so that response times do not leak the token.
                return hmac.compare_digest(given, self._expected)
        return False


async def _refuse_unary(_: Any, __: Any, context: grpc.aio.ServicerContext) -> Any:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")


async def _refuse_stream(_: Any, __: Any, context: grpc.aio.ServicerContext) -> Any:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
    yield  # pragma: no cover - makes this an async generator like the handler it replaces
