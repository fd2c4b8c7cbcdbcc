"""Micro-batching of concurrent requests (what serving systems such as Triton call dynamic batching):
the requests that arrive while one batch is being read and scored wait for it to finish, then go
together as the next batch: one card-state read for all of them, one tree walk over their rows.

It batches only what is already queued: a request that finds nothing in flight is processed at
once, alone (no timer, no added wait at concurrency 1), and a batch never waits to grow. Each
request still gets its own result or its own error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

#: Most requests processed as one batch (the rest wait for the next one).
MAX_BATCH = 64


class MicroBatcher(Generic[Item, Result]):
    """Runs `process(items)` (a coroutine returning one result or exception per item, in order) on
    the items submitted while the previous call ran; one call at a time, on one event loop."""

    def __init__(self, process: Callable[[list[Item]], Awaitable[list[Result | BaseException]]], *,
                 max_batch: int = MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.process = process
        self.max_batch = max_batch
        self._queue: list[tuple[Item, asyncio.Future]] = []
        self._busy = False
        self._drainer: asyncio.Task | None = None  # held: the loop keeps only weak references to tasks
        self.batches = 0  # how many calls of `process` so far, and over how many items (for benchmarks)
        self.items = 0

    async def submit(self, item: Item) -> Result:
        """`item`'s result (or its exception raised), processed alone when nothing is in flight, else
        with the items queued meanwhile."""
        if self._busy:
            future = asyncio.get_running_loop().create_future()
            self._queue.append((item, future))
            return await future
        self._busy = True  # this request leads: no future, no task, no hop when it is alone
        try:
            result = (await self._run([item]))[0]
        finally:
            self._hand_over()
        if isinstance(result, BaseException):
            raise result
        return result

    async def _run(self, items: list[Item]) -> list[Result | BaseException]:
        self.batches += 1
        self.items += len(items)
        try:
            results = await self.process(items)
        except Exception as error:  # noqa: BLE001 -- e.g. the store is down: every item of the batch gets it
            return [error] * len(items)
        if len(results) != len(items):
            return [RuntimeError(f"process returned {len(results)} results for {len(items)} items")] * len(items)
        return results

    def _hand_over(self) -> None:
        """Start the queued items' batch in a task of its own, or mark the batcher idle."""
        if self._queue:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        else:
            self._busy = False

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
                waiting = [(item, future) for item, future in batch if not future.done()]  # not cancelled
                if not waiting:
                    continue
                try:
                    results = await self._run([item for item, _ in waiting])
                except BaseException:  # the drain itself was cancelled (shutdown): its requests are too
                    for _, future in waiting:
                        future.cancel()
                    raise
                for (_, future), result in zip(waiting, results):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            for _, future in self._queue:  # only when the drain was cancelled (shutdown)
                future.cancel()
            self._queue = []
            self._busy = False
            self._drainer = None
