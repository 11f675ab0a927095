"""AsyncKMEClient: the asyncio client, with the same typed methods as KMEClient."""
from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, AsyncIterator, Callable, Iterable, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kme.v1 import answer_pb2, answer_pb2_grpc, knowledge_pb2, knowledge_pb2_grpc
from kme_client import _convert, _requests
from kme_client._common import CHANNEL_OPTIONS, DEFAULT_BATCH, RetryPolicy, credentials, metadata
from kme_client.errors import InvalidArgument, KMEError, from_rpc_error
from kme_client.types import (AddResult, AskResult, CandidateScore, Fact, Hit, ImportResult, Mode, ServerLimits,
                              Stats)

log = logging.getLogger(__name__)

_DEFAULT: Any = object()


class AsyncKMEClient:
    """The asyncio twin of KMEClient: same arguments, same methods, awaited.

    Use `async with AsyncKMEClient(target) as client:` or await close().
    """

    def __init__(self, target: str = "127.0.0.1:50051", *, timeout: float | None = 60.0, token: str | None = None,
                 tls: bool | str | os.PathLike[str] = False, retries: int = 3,
                 channel: grpc.aio.Channel | None = None) -> None:
        creds = credentials(tls)
        if channel is None:
            channel = (grpc.aio.secure_channel(target, creds, options=CHANNEL_OPTIONS) if creds
                       else grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS))
        self._channel = channel
        self.target = target
        self.timeout = timeout
        self._metadata = metadata(token)
        self._retry = RetryPolicy(retries=retries)
        self._knowledge = knowledge_pb2_grpc.KnowledgeServiceStub(channel)
        self._answer = answer_pb2_grpc.AnswerServiceStub(channel)
        self._health = health_pb2_grpc.HealthStub(channel)
        self._limits: ServerLimits | None = None

    async def __aenter__(self) -> AsyncKMEClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, method: Callable[..., Any], name: str, request: Any, timeout: Any = _DEFAULT) -> Any:
        timeout = self.timeout if timeout is _DEFAULT else timeout
        attempt = 0
        while True:
            try:
                return await method(request, timeout=timeout, metadata=self._metadata)
            except grpc.RpcError as error:
                if not self._retry.should_retry(name, error, attempt):
                    raise from_rpc_error(error) from None
                delay = self._retry.delay(attempt)
                log.debug("%s failed with %s; retry %d in %.2f s", name, error.code(), attempt + 1, delay)
                await asyncio.sleep(delay)
                attempt += 1

    async def _batch_limit(self) -> int:
        if self._limits is None:
            try:
                self._limits = (await self.stats()).limits
            except KMEError:
                return DEFAULT_BATCH
        return self._limits.max_batch or DEFAULT_BATCH

    async def add_facts(self, items: Iterable[Any], *, batch_size: int | None = None, source: str | None = None,
                        batch_id: str | None = None, atomic: bool = True, timeout: Any = _DEFAULT) -> AddResult:
        """See KMEClient.add_facts."""
        messages = _convert.items_to_pb(items)
        if not messages:
            raise InvalidArgument("no items to add", code="INVALID_ARGUMENT", violations=[("items", "is empty")])
        size = batch_size or await self._batch_limit()
        ids: list[int] = []
        current = batch_id or ""
        for start, chunk in _requests.chunks(messages, size):
            request = knowledge_pb2.AddFactsRequest(items=chunk, batch_id=current, source=source or "")
            try:
                response = await self._call(self._knowledge.AddFacts, "AddFacts", request, timeout)
            except KMEError as error:
                if start and atomic and not batch_id:
                    try:
                        await self.rollback(current)
                    except KMEError:
                        log.exception("rolling back the partly stored batch %s failed", current)
                raise _requests.shifted(error, start) from None
            ids.extend(response.ids)
            current = response.batch_id
        return AddResult(ids=ids, batch_id=current)

    async def import_facts(self, source: Iterable[Any] | str | os.PathLike[str], *, format: str | None = None,
                           batch_size: int | None = None, strict: bool = False, batch_id: str | None = None,
                           source_name: str | None = None, progress: _requests.Progress | None = None,
                           timeout: float | None = None) -> ImportResult:
        """See KMEClient.import_facts."""
        requests = _requests.Capture(_requests.import_requests(
            source, format=format, batch_size=batch_size or await self._batch_limit(), strict=strict,
            batch_id=batch_id, source_name=source_name, progress=progress))
        try:
            response = await self._call(self._knowledge.ImportFacts, "ImportFacts", iter(requests), timeout)
        except KMEError:
            if requests.error is not None:
                raise requests.error from None
            raise
        return _convert.import_from_pb(response)

    async def delete(self, ids: int | Sequence[int], *, timeout: Any = _DEFAULT) -> int:
        ids = [ids] if isinstance(ids, int) else list(ids)
        response = await self._call(self._knowledge.DeleteFacts, "DeleteFacts",
                                    knowledge_pb2.DeleteFactsRequest(ids=ids), timeout)
        return response.deleted

    async def rollback(self, target: int | str, *, timeout: Any = _DEFAULT) -> int:
        response = await self._call(self._knowledge.Rollback, "Rollback", _convert.rollback_request(target), timeout)
        return response.rolled_back

    async def get_fact(self, fact_id: int, *, timeout: Any = _DEFAULT) -> Fact:
        response = await self._call(self._knowledge.GetFact, "GetFact", knowledge_pb2.GetFactRequest(id=fact_id), timeout)
        return _convert.fact_from_pb(response.fact)

    async def list_facts(self, *, subject: str | None = None, relation: str | None = None,
                         batch_id: str | None = None, status: str | None = None, page_size: int = 100,
                         timeout: Any = _DEFAULT) -> AsyncIterator[Fact]:
        token = ""
        while True:
            request = knowledge_pb2.ListFactsRequest(subject=subject or "", relation=relation or "",
                                                     batch_id=batch_id or "", status=_convert.status_to_pb(status),
                                                     page_size=page_size, page_token=token)
            response = await self._call(self._knowledge.ListFacts, "ListFacts", request, timeout)
            for fact in response.facts:
                yield _convert.fact_from_pb(fact)
            token = response.next_page_token
            if not token:
                return

    async def retrieve(self, query: str, k: int = 5, *, threshold: float | None = None,
                       timeout: Any = _DEFAULT) -> list[Hit]:
        request = knowledge_pb2.RetrieveRequest(query=query, k=k)
        if threshold is not None:
            request.threshold = threshold
        response = await self._call(self._knowledge.Retrieve, "Retrieve", request, timeout)
        return [_convert.hit_from_pb(h) for h in response.hits]

    async def stats(self, *, timeout: Any = _DEFAULT) -> Stats:
        response = await self._call(self._knowledge.Stats, "Stats", knowledge_pb2.StatsRequest(), timeout)
        stats = _convert.stats_from_pb(response)
        self._limits = stats.limits
        return stats

    async def ask(self, text: str, mode: str | Mode = "auto", *, max_new_tokens: int | None = None,
                  stop: Sequence[str] | str | None = None, temperature: float | None = None,
                  timeout: Any = _DEFAULT) -> AskResult:
        request = _convert.ask_request(text, mode, max_new_tokens, stop, temperature)
        return _convert.ask_from_pb(await self._call(self._answer.Ask, "Ask", request, timeout))

    async def ask_stream(self, text: str, mode: str | Mode = "auto", *, max_new_tokens: int | None = None,
                         stop: Sequence[str] | str | None = None, temperature: float | None = None,
                         timeout: Any = _DEFAULT) -> AsyncIterator[str | AskResult]:
        """Text pieces, then the AskResult; leaving the loop early cancels the call. Not retried."""
        request = _convert.ask_request(text, mode, max_new_tokens, stop, temperature)
        call = self._answer.AskStream(request, timeout=self.timeout if timeout is _DEFAULT else timeout,
                                      metadata=self._metadata)
        try:
            async for message in call:
                if message.WhichOneof("event") == "token":
                    yield message.token
                else:
                    yield _convert.ask_from_pb(message.final)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        finally:
            call.cancel()

    async def score(self, prompt: str, candidates: Sequence[str], mode: str | Mode = "auto", *,
                    timeout: Any = _DEFAULT) -> list[CandidateScore]:
        request = answer_pb2.ScoreRequest(prompt=prompt, candidates=list(candidates), mode=_convert.mode_to_pb(mode))
        return _convert.scores_from_pb(await self._call(self._answer.Score, "Score", request, timeout))

    async def health(self, service: str = "", *, timeout: Any = _DEFAULT) -> str:
        response = await self._call(self._health.Check, "Check", health_pb2.HealthCheckRequest(service=service), timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
