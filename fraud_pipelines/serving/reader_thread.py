"""One thread of the service's own that runs blocking calls (SQLite card-state reads) for the event
loop: the loop hands a call over through a queue and awaits a future that the thread settles with
`loop.call_soon_threadsafe`, one wake-up each way and nothing else.

Why not `loop.run_in_executor` on a ThreadPoolExecutor: its hand-off goes through a concurrent
future, its condition variable, the pool's semaphores and asyncio's future chaining. Measured here
(uvloop, the loop asleep between calls as at one client, a 300-byte SQLite read, load ~4): 189-197 us
of process CPU per call with the pool, 130-143 us with this thread, 92-100 us with the read made on
the loop itself (not allowed: it would block the loop). The hand-off that remains (two thread
wake-ups) is still the largest single cost of a request alone; see the README's serving section.

The calls run one after another, in order: the micro-batcher already sends one batch at a time.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

Result = TypeVar("Result")
_STOP = object()


class ReaderThread:
    """A daemon thread that runs the blocking calls handed to `run`, one at a time; `close` ends it."""

    def __init__(self, name: str = "card-state-reader") -> None:
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._started = False
        self._closed = False
        self._lock = threading.Lock()

    async def run(self, call: Callable[..., Result], *args: Any) -> Result:
        """`call(*args)` on the thread; its result, or its exception raised here."""
        if self._closed:
            raise RuntimeError("the reader thread is closed")
        if not self._started:
            with self._lock:
                if not self._started:
                    self._thread.start()
                    self._started = True
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._calls.put((loop, future, call, args))
        return await future

    def close(self) -> None:
        """Let the thread finish the calls already handed over, then end (does not wait for it)."""
        self._closed = True
        self._calls.put(_STOP)

    def _serve(self) -> None:
        while True:
            item = self._calls.get()
            if item is _STOP:
                return
            loop, future, call, args = item
            try:
                result, error = call(*args), None
            except BaseException as raised:  # noqa: BLE001 -- handed to the awaiting request
                result, error = None, raised
            try:
                loop.call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:  # the loop is closed (shutdown): nobody awaits the answer any more
                pass


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    """On the loop: the awaiting request's answer, unless it has gone (cancelled)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
