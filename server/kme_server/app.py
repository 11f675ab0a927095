"""The grpc.aio server: builds the store and the engine, wires services, health, reflection, shutdown."""
from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from kme.v1 import answer_pb2, answer_pb2_grpc, knowledge_pb2, knowledge_pb2_grpc
from kme_server.errors import ErrorMappingInterceptor
from kme_server.servicers import AnswerServicer, AnsweringEngine, EngineSlot, KnowledgeServicer, KnowledgeStoreLike
from kme_server.servicers.auth import TokenAuthInterceptor
from kme_server.servicers.pool import BoundedPool
from kme_server.answers import GenerationOptions
from kme_server.settings import Settings

log = logging.getLogger(__name__)

KNOWLEDGE_SERVICE = knowledge_pb2.DESCRIPTOR.services_by_name["KnowledgeService"].full_name
ANSWER_SERVICE = answer_pb2.DESCRIPTOR.services_by_name["AnswerService"].full_name
# How often health follows engine.ready(): cheap, and fast enough for orchestrators.
_READY_POLL_S = 0.2

EngineFactory = Callable[[Settings, KnowledgeStoreLike], AnsweringEngine]


def build_store(settings: Settings) -> KnowledgeStoreLike:
    """Open (or create) the knowledge store in `settings.data_dir`."""
    from kme_store.store import KnowledgeStore  # the store pulls FAISS and SQLite: load at start-up only

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return KnowledgeStore(settings.data_dir, settings=settings.store)


def load_engine_factory(path: str) -> EngineFactory:
    """The callable named by `module:function` (settings.engine_factory)."""
    module, _, name = path.partition(":")
    if not module or not name:
        raise ValueError(f"engine_factory must be 'module:function', not {path!r}")
    return getattr(importlib.import_module(module), name)


class KMEServer:
    """A started server and what it owns; `stop()` takes it all down in order."""

    def __init__(self, settings: Settings, store: KnowledgeStoreLike, *, owns_store: bool) -> None:
        self.settings = settings
        self.store = store
        self.engine = EngineSlot()
        self.health = health_aio.HealthServicer()
        self.port = 0
        self._owns_store = owns_store
        self._store_pool = ThreadPoolExecutor(settings.store_workers, thread_name_prefix="kme-store")
        self._engine_pool = BoundedPool(settings.workers, settings.max_queue, "kme-engine")
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopped = False
        interceptors: list[grpc.aio.ServerInterceptor] = []
        if settings.token:
            interceptors.append(TokenAuthInterceptor(settings.token))
        interceptors.append(ErrorMappingInterceptor())
        size = settings.max_message_bytes
        self.server = grpc.aio.server(interceptors=interceptors, options=[
            ("grpc.max_receive_message_length", size), ("grpc.max_send_message_length", size)])
        knowledge_pb2_grpc.add_KnowledgeServiceServicer_to_server(
            KnowledgeServicer(store, settings, self._store_pool, self.engine), self.server)
        defaults = GenerationOptions(max_new_tokens=settings.answering.max_new_tokens, stop=tuple(settings.answering.stop))
        answer_pb2_grpc.add_AnswerServiceServicer_to_server(
            AnswerServicer(self.engine, self._engine_pool, defaults), self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [KNOWLEDGE_SERVICE, ANSWER_SERVICE, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME], self.server)

    async def start(self, engine: AnsweringEngine | None = None, engine_factory: EngineFactory | None = None) -> None:
        """Listen, serve the store at once, and build the engine in the background."""
        address = f"{self.settings.host}:{self.settings.port}"
        if self.settings.tls:
            credentials = grpc.ssl_server_credentials(
                [(self.settings.tls_key.read_bytes(), self.settings.tls_cert.read_bytes())])  # type: ignore[union-attr]
            self.port = self.server.add_secure_port(address, credentials)
        else:
            self.port = self.server.add_insecure_port(address)
        if self.port == 0:
            raise RuntimeError(f"cannot listen on {address}")
        for service in ("", ANSWER_SERVICE):
            await self.health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.health.set(KNOWLEDGE_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        await self.server.start()
        log.info("listening on %s:%d (tls=%s, auth=%s)", self.settings.host, self.port, self.settings.tls,
                 bool(self.settings.token))
        if engine is not None:
            self.engine.engine = engine
        else:
            self._tasks.append(asyncio.create_task(self._build_engine(engine_factory)))
        self._tasks.append(asyncio.create_task(self._follow_readiness()))

    async def _build_engine(self, factory: EngineFactory | None) -> None:
        # Loading and warming a model takes seconds to minutes; the store is served meanwhile and
        # health says NOT_SERVING for answering until the engine reports ready.
        try:
            factory = factory or load_engine_factory(self.settings.engine_factory)
            self.engine.engine = await asyncio.to_thread(factory, self.settings, self.store)
            log.info("answering engine built")
        except Exception as exc:  # noqa: BLE001 - the store stays usable; health tells the rest
            self.engine.failed = f"{type(exc).__name__}: {exc}"
            log.exception("building the answering engine failed")

    async def _follow_readiness(self) -> None:
        serving = None
        while True:
            try:
                ready = self.engine.ready()
            except Exception:  # noqa: BLE001 - a failing ready() means not ready
                log.exception("engine.ready() failed")
                ready = False
            if ready != serving:
                serving = ready
                status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
                for service in ("", ANSWER_SERVICE):
                    await self.health.set(service, status)
                log.info("answering %s", "ready: SERVING" if ready else "not ready: NOT_SERVING")
            await asyncio.sleep(_READY_POLL_S)

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting calls, let in-flight ones finish within `grace`, then close the store.

        The store is closed only after its threads are done, so every write a client saw
        acknowledged is on disk.
        """
        if self._stopped:
            return
        self._stopped = True
        grace = self.settings.grace_s if grace is None else grace
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self._engine_pool.shutdown, True)
        await asyncio.to_thread(self._store_pool.shutdown, True)
        close = getattr(self.engine.engine, "close", None)
        if callable(close):
            await asyncio.to_thread(close)
        if self._owns_store:
            await asyncio.to_thread(self.store.close)
        log.info("stopped")

    async def wait(self) -> None:
        await self.server.wait_for_termination()


async def create_server(settings: Settings, *, store: KnowledgeStoreLike | None = None,
                        engine: AnsweringEngine | None = None, engine_factory: EngineFactory | None = None) -> KMEServer:
    """Build and start a server. Without `store`, opens the one in settings.data_dir (and closes it
    on stop); without `engine`, builds one in the background with `engine_factory` or the factory
    named by settings.engine_factory, called as factory(settings, store)."""
    owns = store is None
    if store is None:
        store = await asyncio.to_thread(build_store, settings)
    server = KMEServer(settings, store, owns_store=owns)
    try:
        await server.start(engine=engine, engine_factory=engine_factory)
    except BaseException:
        if owns:
            store.close()
        raise
    return server


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    server = await create_server(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("signal received: shutting down (grace %.1f s)", settings.grace_s)
    await server.stop()
