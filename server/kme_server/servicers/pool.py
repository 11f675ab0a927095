"""A thread pool with a bounded number of waiting calls, awaitable from the event loop."""
from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, AsyncIterator, Callable, Iterator

from kme_server.errors import DeadlineTooShort, LimitExceeded

_END = object()


class BoundedPool:
    """Runs blocking calls on `workers` threads; at most `max_queue` calls running or waiting.

    A call over the bound fails at once with LimitExceeded (RESOURCE_EXHAUSTED) rather than
    queueing behind a slow model until its deadline passes. A call whose deadline has passed by
    the time a thread picks it up is skipped, and a call cancelled while waiting never runs.
    """

    def __init__(self, workers: int, max_queue: int, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._max_queue = max_queue
        self._pending = 0  # touched only from the event loop thread
        self._name = name

    @property
    def pending(self) -> int:
        return self._pending

    def _reserve(self) -> asyncio.AbstractEventLoop:
        if self._pending >= self._max_queue:
            raise LimitExceeded(f"{self._name}: {self._pending} calls are already running or waiting "
                                f"(the limit is {self._max_queue}); retry later")
        self._pending += 1
        return asyncio.get_running_loop()

    def _release_when_done(self, loop: asyncio.AbstractEventLoop, future: Future[Any]) -> None:
        # The slot is freed when the thread is done, not when the caller stops waiting, so that
        # abandoned calls still count against the bound while they occupy a thread.
        def release(_: Future[Any]) -> None:
            try:
                loop.call_soon_threadsafe(self._release)
            except RuntimeError:  # the loop is closed: nobody counts any more
                pass
        future.add_done_callback(release)

    def _release(self) -> None:
        self._pending -= 1

    async def run(self, fn: Callable[..., Any], *args: Any, deadline: float | None = None, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)` on a worker thread. `deadline` is a time.monotonic() value."""
        loop = self._reserve()
        future = self._executor.submit(_guarded, fn, args, kwargs, deadline)
        self._release_when_done(loop, future)
        return await asyncio.wrap_future(future)

    async def stream(self, make: Callable[[], Iterator[Any]], deadline: float | None = None) -> AsyncIterator[Any]:
        """The items of the iterator `make()` returns, iterated on one worker thread.

        When the consumer stops (client cancelled, deadline), the thread stops pulling items and
        closes the iterator, so a generator stops its work at the next yield.
        """
        loop = self._reserve()
        queue: asyncio.Queue[tuple[object, Any]] = asyncio.Queue()
        stop = threading.Event()

        def put(kind: object, value: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
            except RuntimeError:
                stop.set()

        def produce() -> None:
            if deadline is not None and time.monotonic() >= deadline:
                put(_END, DeadlineTooShort("the deadline passed while the call waited for a worker"))
                return
            iterator = make()
            try:
                for item in iterator:
                    if stop.is_set():
                        break
                    put(None, item)
            except BaseException as exc:  # noqa: BLE001 - handed to the event loop
                put(_END, exc)
                return
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
            put(_END, None)

        future = self._executor.submit(produce)
        self._release_when_done(loop, future)
        try:
            while True:
                kind, value = await queue.get()
                if kind is _END:
                    if value is not None:
                        raise value
                    return
                yield value
        finally:
            stop.set()
            future.cancel()  # if it never started

    def shutdown(self, wait: bool = True) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=True)


def _guarded(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], deadline: float | None) -> Any:
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlineTooShort("the deadline passed while the call waited for a worker")
    return fn(*args, **kwargs)
