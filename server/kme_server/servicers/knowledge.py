"""KnowledgeService: the store's façade over gRPC, one thin method per call."""
from __future__ import annotations

import asyncio
import logging
import os
import queue
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator

import grpc

from kme.v1 import knowledge_pb2, knowledge_pb2_grpc
from kme_server import convert
from kme_server.errors import LimitExceeded, ServiceError
from kme_server.servicers.calls import deadline_of
from kme_server.servicers.protocols import EngineSlot, KnowledgeStoreLike
from kme_server.settings import Settings
from kme_store.errors import FieldError
from kme_store.facts import Fact, Limits, LineError

log = logging.getLogger(__name__)

# Item batches buffered between the gRPC stream and the store's import thread. Small, so that a
# fast client is slowed to the store's pace instead of filling memory.
_IMPORT_BUFFER = 4


class KnowledgeServicer(knowledge_pb2_grpc.KnowledgeServiceServicer):
    """Validates requests, converts them and runs the store's blocking calls on a thread pool."""

    def __init__(self, store: KnowledgeStoreLike, settings: Settings, executor: ThreadPoolExecutor,
                 engine: EngineSlot | None = None) -> None:
        self._store = store
        self._settings = settings
        self._executor = executor
        self._engine = engine or EngineSlot()
        self._limits = Limits(max_field_chars=settings.store.max_field_chars)

    async def _call(self, context: grpc.aio.ServicerContext, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        deadline_of(context)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args, **kwargs))

    def _check_batch(self, n: int, field: str) -> None:
        if n > self._settings.max_batch:
            raise LimitExceeded(f"{field} holds {n} items; the limit is {self._settings.max_batch} per message "
                                f"(split the call)", field=field)

    async def AddFacts(self, request: knowledge_pb2.AddFactsRequest, context: grpc.aio.ServicerContext) -> knowledge_pb2.AddFactsResponse:
        if not request.items:
            raise FieldError("items", "is empty")
        self._check_batch(len(request.items), "items")
        items = [convert.validate_input(item, i, self._limits) for i, item in enumerate(request.items)]
        result = await self._call(context, self._store.add, items, batch_id=request.batch_id or None,
                                  source=request.source or None)
        return knowledge_pb2.AddFactsResponse(ids=list(result.ids), batch_id=result.batch_id)

    async def ImportFacts(self, request_iterator: AsyncIterator[knowledge_pb2.ImportFactsRequest],
                          context: grpc.aio.ServicerContext) -> knowledge_pb2.ImportFactsResponse:
        messages = request_iterator.__aiter__()
        first = await anext(messages, None)
        options = knowledge_pb2.ImportOptions()
        if first is not None and first.WhichOneof("payload") == "options":
            options = first.options
            first = await anext(messages, None)
        if first is None:
            raise FieldError("payload", "the stream holds no items and no file chunks")
        if first.WhichOneof("payload") == "chunk":
            summary = await self._import_chunks(first, messages, options, context)
        else:
            summary = await self._import_items(first, messages, options, context)
        return convert.summary_to_pb(summary)

    async def _import_chunks(self, first: knowledge_pb2.ImportFactsRequest, rest: AsyncIterator[knowledge_pb2.ImportFactsRequest],
                             options: knowledge_pb2.ImportOptions, context: grpc.aio.ServicerContext) -> Any:
        # The store's parsers read files, so the chunks are spooled to a file next to the store
        # (same disk, no RAM limit) and removed once imported.
        spool = Path(self._settings.data_dir) / "tmp"
        spool.mkdir(parents=True, exist_ok=True)
        suffix = Path(options.filename).suffix if options.filename else ""
        fd, name = tempfile.mkstemp(prefix="import-", suffix=suffix, dir=spool)
        try:
            with os.fdopen(fd, "wb") as out:
                message: knowledge_pb2.ImportFactsRequest | None = first
                while message is not None:
                    if message.WhichOneof("payload") != "chunk":
                        raise FieldError("payload", "a file import carries only chunks after the options")
                    out.write(message.chunk)
                    message = await anext(rest, None)
            return await self._call(context, self._store.import_file, name, format=options.format or None,
                                    strict=options.strict)
        finally:
            Path(name).unlink(missing_ok=True)

    async def _import_items(self, first: knowledge_pb2.ImportFactsRequest, rest: AsyncIterator[knowledge_pb2.ImportFactsRequest],
                            options: knowledge_pb2.ImportOptions, context: grpc.aio.ServicerContext) -> Any:
        # One store call consumes the whole stream, so that a strict import is all or nothing.
        # Batches cross from the event loop to the store's thread through a small queue.
        buffer: queue.Queue[list[tuple[int, Fact | LineError]] | BaseException | None] = queue.Queue(_IMPORT_BUFFER)
        deadline_of(context)
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(self._executor, partial(
            self._store.import_records, _drain(buffer), batch_id=options.batch_id or None, strict=options.strict))
        index = 0
        try:
            message: knowledge_pb2.ImportFactsRequest | None = first
            while message is not None and not job.done():
                if message.WhichOneof("payload") != "items":
                    raise FieldError("payload", "an item import carries only items after the options")
                self._check_batch(len(message.items.items), "items")
                records = [convert.input_to_record(item, index + i, self._limits)
                           for i, item in enumerate(message.items.items)]
                index += len(records)
                await _put(buffer, records, job)
                message = await anext(rest, None)
            await _put(buffer, None, job)
        except BaseException as exc:
            # The client went away or sent a bad message: the import must not complete as if
            # the stream had ended normally.
            await _put(buffer, exc if isinstance(exc, Exception) else ServiceError("import cancelled"), job)
            raise
        return await job

    async def DeleteFacts(self, request: knowledge_pb2.DeleteFactsRequest, context: grpc.aio.ServicerContext) -> knowledge_pb2.DeleteFactsResponse:
        if not request.ids:
            raise FieldError("ids", "is empty")
        self._check_batch(len(request.ids), "ids")
        deleted = await self._call(context, self._store.delete, list(request.ids))
        return knowledge_pb2.DeleteFactsResponse(deleted=deleted)

    async def Rollback(self, request: knowledge_pb2.RollbackRequest, context: grpc.aio.ServicerContext) -> knowledge_pb2.RollbackResponse:
        target = request.WhichOneof("target")
        if target is None:
            raise FieldError("target", "set fact_id or batch_id")
        value = request.fact_id if target == "fact_id" else request.batch_id
        count = await self._call(context, self._store.rollback, value)
        return knowledge_pb2.RollbackResponse(rolled_back=count)

    async def GetFact(self, request: knowledge_pb2.GetFactRequest, context: grpc.aio.ServicerContext) -> knowledge_pb2.GetFactResponse:
        if request.id <= 0:
            raise FieldError("id", "must be a positive fact id")
        fact = await self._call(context, self._store.get, request.id)
        return knowledge_pb2.GetFactResponse(fact=convert.fact_to_pb(fact))

    async def ListFacts(self, request: knowledge_pb2.ListFactsRequest, context: grpc.aio.ServicerContext) -> knowledge_pb2.ListFactsResponse:
        size = request.page_size or self._settings.page_size
        if size < 0 or size > self._settings.max_page_size:
            raise FieldError("page_size", f"must be between 0 and {self._settings.max_page_size}")
        offset = convert.decode_page_token(request.page_token)
        # One more than a page tells whether another page follows without a count query.
        facts = await self._call(context, self._store.list_facts, subject=request.subject or None,
                                 relation=request.relation or None, batch_id=request.batch_id or None,
                                 status=convert.status_from_pb(request.status), offset=offset, limit=size + 1)
        token = convert.encode_page_token(offset + size) if len(facts) > size else ""
        return knowledge_pb2.ListFactsResponse(facts=[convert.fact_to_pb(f) for f in facts[:size]],
                                               next_page_token=token)

    async def Retrieve(self, request: knowledge_pb2.RetrieveRequest, context: grpc.aio.ServicerContext) -> knowledge_pb2.RetrieveResponse:
        query = convert.required_text(request.query, "query")
        if request.k < 0 or request.k > self._settings.max_page_size:
            raise FieldError("k", f"must be between 0 and {self._settings.max_page_size}")
        kwargs: dict[str, Any] = {}
        if request.k:
            kwargs["k"] = request.k
        if request.HasField("threshold"):
            kwargs["threshold"] = request.threshold
        hits = await self._call(context, self._store.retrieve, query, **kwargs)
        return knowledge_pb2.RetrieveResponse(hits=[convert.hit_to_pb(h) for h in hits])

    async def Stats(self, request: knowledge_pb2.StatsRequest, context: grpc.aio.ServicerContext) -> knowledge_pb2.StatsResponse:
        counts, info = convert.stats_to_pb(await self._call(context, self._store.stats))
        s = self._settings
        return knowledge_pb2.StatsResponse(
            counts=counts, info=info, model=s.model.name_or_path, engine_ready=self._engine.ready(),
            limits=knowledge_pb2.ServerLimits(max_batch=s.max_batch, max_message_bytes=s.max_message_bytes,
                                              max_queue=s.max_queue))



def _drain(buffer: queue.Queue[Any]) -> Iterator[tuple[int, Fact | LineError]]:
    """The records put into `buffer`, until None; an exception put there is raised in the store."""
    while True:
        batch = buffer.get()
        if batch is None:
            return
        if isinstance(batch, BaseException):
            raise batch
        yield from batch


async def _put(buffer: queue.Queue[Any], value: Any, job: asyncio.Future[Any]) -> None:
    # Polls instead of blocking a thread: the store thread may finish (or fail) early, and then
    # nobody would ever take the value.
    while not job.done():
        try:
            buffer.put_nowait(value)
            return
        except queue.Full:
            await asyncio.sleep(0.005)
