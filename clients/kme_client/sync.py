"""KMEClient: the blocking client of a kme server, with typed results and exceptions."""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, Iterable, Iterator, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kme.v1 import answer_pb2, answer_pb2_grpc, knowledge_pb2, knowledge_pb2_grpc
from kme_client import _convert, _requests
from kme_client._common import CHANNEL_OPTIONS, DEFAULT_BATCH, RetryPolicy, credentials, metadata
from kme_client.errors import InvalidArgument, KMEError, from_rpc_error
from kme_client.types import (AddResult, AskResult, CandidateScore, Fact, Hit, ImportResult, Mode, ServerLimits,
                              Stats)

log = logging.getLogger(__name__)

_DEFAULT: Any = object()  # "use the client's timeout", distinct from None ("no deadline")


class KMEClient:
    """A connection to a kme server. Use as a context manager, or call close().

    `timeout` is the deadline of each call in seconds (None: none); every method takes its own
    `timeout` too. Failed idempotent calls (reads, Ask, Score, Delete, health) are retried on
    UNAVAILABLE up to `retries` times with exponential backoff; AddFacts, ImportFacts and
    Rollback never are. Errors are raised as KMEError subclasses (kme_client.errors).
    """

    def __init__(self, target: str = "127.0.0.1:50051", *, timeout: float | None = 60.0, token: str | None = None,
                 tls: bool | str | os.PathLike[str] = False, retries: int = 3,
                 channel: grpc.Channel | None = None) -> None:
        creds = credentials(tls)
        if channel is None:
            channel = (grpc.secure_channel(target, creds, options=CHANNEL_OPTIONS) if creds
                       else grpc.insecure_channel(target, options=CHANNEL_OPTIONS))
        self._channel = channel
        self.target = target
        self.timeout = timeout
        self._metadata = metadata(token)
        self._retry = RetryPolicy(retries=retries)
        self._knowledge = knowledge_pb2_grpc.KnowledgeServiceStub(channel)
        self._answer = answer_pb2_grpc.AnswerServiceStub(channel)
        self._health = health_pb2_grpc.HealthStub(channel)
        self._limits: ServerLimits | None = None

    # -- plumbing ---------------------------------------------------------------------------------

    def __enter__(self) -> KMEClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _call(self, method: Callable[..., Any], name: str, request: Any, timeout: Any = _DEFAULT) -> Any:
        timeout = self.timeout if timeout is _DEFAULT else timeout
        attempt = 0
        while True:
            try:
                return method(request, timeout=timeout, metadata=self._metadata)
            except grpc.RpcError as error:
                if not self._retry.should_retry(name, error, attempt):
                    raise from_rpc_error(error) from None
                delay = self._retry.delay(attempt)
                log.debug("%s failed with %s; retry %d in %.2f s", name, error.code(), attempt + 1, delay)
                time.sleep(delay)
                attempt += 1

    def _batch_limit(self) -> int:
        if self._limits is None:
            try:
                self._limits = self.stats().limits
            except KMEError:
                return DEFAULT_BATCH
        return self._limits.max_batch or DEFAULT_BATCH

    # -- knowledge --------------------------------------------------------------------------------

    def add_facts(self, items: Iterable[Any], *, batch_size: int | None = None, source: str | None = None,
                  batch_id: str | None = None, atomic: bool = True, timeout: Any = _DEFAULT) -> AddResult:
        """Store facts or edit requests (mappings, Fact/EditRequest objects) as one batch.

        Any number of items: they are sent in requests of at most the server's batch limit, all
        in the same batch. If a later request fails and `atomic` is true, the batch is rolled
        back before the error is raised, so the call stores all or nothing. Field violations name
        the item by its position in `items`: `items[1203].edit.subject`.
        """
        messages = _convert.items_to_pb(items)
        if not messages:
            raise InvalidArgument("no items to add", code="INVALID_ARGUMENT", violations=[("items", "is empty")])
        size = batch_size or self._batch_limit()
        ids: list[int] = []
        current = batch_id or ""
        for start, chunk in _requests.chunks(messages, size):
            request = knowledge_pb2.AddFactsRequest(items=chunk, batch_id=current, source=source or "")
            try:
                response = self._call(self._knowledge.AddFacts, "AddFacts", request, timeout)
            except KMEError as error:
                if start and atomic and not batch_id:
                    self._undo(current)
                raise _requests.shifted(error, start) from None
            ids.extend(response.ids)
            current = response.batch_id
        return AddResult(ids=ids, batch_id=current)

    def _undo(self, batch_id: str) -> None:
        try:
            self.rollback(batch_id)
        except KMEError:
            log.exception("rolling back the partly stored batch %s failed", batch_id)

    def import_facts(self, source: Iterable[Any] | str | os.PathLike[str], *, format: str | None = None,
                     batch_size: int | None = None, strict: bool = False, batch_id: str | None = None,
                     source_name: str | None = None, progress: _requests.Progress | None = None,
                     timeout: float | None = None) -> ImportResult:
        """Bulk import over one client stream: a file path (parsed by the server in `format`,
        guessed from the suffix when None) or an iterable of items. Bad items are skipped and
        reported in the result unless `strict`, which refuses the whole import. No deadline by
        default: large imports take minutes."""
        requests = _requests.Capture(_requests.import_requests(
            source, format=format, batch_size=batch_size or self._batch_limit(), strict=strict,
            batch_id=batch_id, source_name=source_name, progress=progress))
        try:
            response = self._call(self._knowledge.ImportFacts, "ImportFacts", iter(requests), timeout)
        except KMEError:
            if requests.error is not None:
                raise requests.error from None
            raise
        return _convert.import_from_pb(response)

    def delete(self, ids: int | Sequence[int], *, timeout: Any = _DEFAULT) -> int:
        """Delete facts by id; returns how many were deleted."""
        ids = [ids] if isinstance(ids, int) else list(ids)
        return self._call(self._knowledge.DeleteFacts, "DeleteFacts", knowledge_pb2.DeleteFactsRequest(ids=ids),
                          timeout).deleted

    def rollback(self, target: int | str, *, timeout: Any = _DEFAULT) -> int:
        """Undo one added fact (int id) or a whole batch (str id); returns how many facts changed."""
        return self._call(self._knowledge.Rollback, "Rollback", _convert.rollback_request(target), timeout).rolled_back

    def get_fact(self, fact_id: int, *, timeout: Any = _DEFAULT) -> Fact:
        response = self._call(self._knowledge.GetFact, "GetFact", knowledge_pb2.GetFactRequest(id=fact_id), timeout)
        return _convert.fact_from_pb(response.fact)

    def list_facts(self, *, subject: str | None = None, relation: str | None = None, batch_id: str | None = None,
                   status: str | None = None, page_size: int = 100, timeout: Any = _DEFAULT) -> Iterator[Fact]:
        """All matching facts, fetched a page at a time as the iterator advances."""
        token = ""
        while True:
            request = knowledge_pb2.ListFactsRequest(subject=subject or "", relation=relation or "",
                                                     batch_id=batch_id or "", status=_convert.status_to_pb(status),
                                                     page_size=page_size, page_token=token)
            response = self._call(self._knowledge.ListFacts, "ListFacts", request, timeout)
            for fact in response.facts:
                yield _convert.fact_from_pb(fact)
            token = response.next_page_token
            if not token:
                return

    def retrieve(self, query: str, k: int = 5, *, threshold: float | None = None, timeout: Any = _DEFAULT) -> list[Hit]:
        request = knowledge_pb2.RetrieveRequest(query=query, k=k)
        if threshold is not None:
            request.threshold = threshold
        response = self._call(self._knowledge.Retrieve, "Retrieve", request, timeout)
        return [_convert.hit_from_pb(h) for h in response.hits]

    def stats(self, *, timeout: Any = _DEFAULT) -> Stats:
        stats = _convert.stats_from_pb(self._call(self._knowledge.Stats, "Stats", knowledge_pb2.StatsRequest(), timeout))
        self._limits = stats.limits
        return stats

    # -- answering --------------------------------------------------------------------------------

    def ask(self, text: str, mode: str | Mode = "auto", *, max_new_tokens: int | None = None,
            stop: Sequence[str] | str | None = None, temperature: float | None = None,
            timeout: Any = _DEFAULT) -> AskResult:
        """The answer to `text` with stored facts applied as `mode` says."""
        request = _convert.ask_request(text, mode, max_new_tokens, stop, temperature)
        return _convert.ask_from_pb(self._call(self._answer.Ask, "Ask", request, timeout))

    def ask_stream(self, text: str, mode: str | Mode = "auto", *, max_new_tokens: int | None = None,
                   stop: Sequence[str] | str | None = None, temperature: float | None = None,
                   timeout: Any = _DEFAULT) -> Iterator[str | AskResult]:
        """Text pieces as the server decodes them, then the AskResult. Not retried.

        Stopping the iteration early (break, close()) cancels the call, and the server stops
        decoding.
        """
        request = _convert.ask_request(text, mode, max_new_tokens, stop, temperature)
        call = self._answer.AskStream(request, timeout=self.timeout if timeout is _DEFAULT else timeout,
                                      metadata=self._metadata)
        try:
            for message in call:
                if message.WhichOneof("event") == "token":
                    yield message.token
                else:
                    yield _convert.ask_from_pb(message.final)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        finally:
            call.cancel()  # no-op when the call is complete

    def score(self, prompt: str, candidates: Sequence[str], mode: str | Mode = "auto", *,
              timeout: Any = _DEFAULT) -> list[CandidateScore]:
        """Log-probability of each candidate as the continuation of `prompt`."""
        request = answer_pb2.ScoreRequest(prompt=prompt, candidates=list(candidates), mode=_convert.mode_to_pb(mode))
        return _convert.scores_from_pb(self._call(self._answer.Score, "Score", request, timeout))

    def health(self, service: str = "", *, timeout: Any = _DEFAULT) -> str:
        """SERVING, NOT_SERVING or UNKNOWN for `service` ("" is the whole server)."""
        response = self._call(self._health.Check, "Check", health_pb2.HealthCheckRequest(service=service), timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
