"""Micro-batching of concurrent requests: a request alone is processed at once, alone; requests
that arrive while a batch is in flight go together as the next one; each gets its own result or
its own error, and one that leaves (cancelled) does not disturb the others."""

from __future__ import annotations

import asyncio

import pytest

from fraud_pipelines.serving.micro_batches import MicroBatcher


class Doubler:
    """Doubles numbers after an await (where others can queue); refuses negative ones, one by one."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.fail_all = False

    async def __call__(self, items: list[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        await asyncio.sleep(0.01)
        if self.fail_all:
            raise ConnectionError("store down")
        return [ValueError(f"negative: {i}") if i < 0 else 2 * i for i in items]


def test_a_request_alone_is_processed_at_once_and_alone():
    async def main():
        work = Doubler()
        batcher = MicroBatcher(work)
        assert [await batcher.submit(i) for i in range(3)] == [0, 2, 4]
        assert work.batches == [[0], [1], [2]]

    asyncio.run(main())


def test_requests_arriving_during_a_batch_go_together_each_with_its_own_answer():
    async def main():
        work = Doubler()
        batcher = MicroBatcher(work)
        results = await asyncio.gather(*(batcher.submit(i) for i in [1, 2, -3, 4, 5]), return_exceptions=True)
        assert results[:2] == [2, 4] and results[3:] == [8, 10]
        assert isinstance(results[2], ValueError) and "negative: -3" in str(results[2])
        assert work.batches == [[1], [2, -3, 4, 5]]  # the first alone; the others queued meanwhile
        assert (batcher.batches, batcher.items) == (2, 5)
        assert await batcher.submit(6) == 12 and work.batches[-1] == [6]  # idle again: alone

    asyncio.run(main())


def test_batches_are_bounded():
    async def main():
        work = Doubler()
        batcher = MicroBatcher(work, max_batch=2)
        assert await asyncio.gather(*(batcher.submit(i) for i in range(6))) == [0, 2, 4, 6, 8, 10]
        assert work.batches == [[0], [1, 2], [3, 4], [5]]

    asyncio.run(main())


def test_a_failed_batch_fails_each_of_its_requests_and_the_next_ones_still_run():
    async def main():
        work = Doubler()
        batcher = MicroBatcher(work)
        work.fail_all = True
        results = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results)
        work.fail_all = False
        assert await asyncio.gather(*(batcher.submit(i) for i in range(3))) == [0, 2, 4]

    asyncio.run(main())


def test_a_cancelled_request_leaves_the_others_answered():
    async def main():
        work = Doubler()
        batcher = MicroBatcher(work)
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0)  # the first is in flight
        leaving = asyncio.ensure_future(batcher.submit(2))
        staying = asyncio.ensure_future(batcher.submit(3))
        await asyncio.sleep(0)
        leaving.cancel()
        assert await first == 2 and await staying == 6
        with pytest.raises(asyncio.CancelledError):
            await leaving
        assert work.batches == [[1], [3]]

    asyncio.run(main())


def test_max_batch_must_be_positive():
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(Doubler(), max_batch=0)


def test_a_cancelled_drain_cancels_its_requests_instead_of_leaving_them_waiting():
    async def main():
        work = Doubler()
        batcher = MicroBatcher(work)
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0)
        queued = [asyncio.ensure_future(batcher.submit(i)) for i in (2, 3)]
        assert await first == 2
        await asyncio.sleep(0)  # the drain has started its batch
        batcher._drainer.cancel()
        results = await asyncio.gather(*queued, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)
        assert await batcher.submit(4) == 8  # idle again, serving

    asyncio.run(main())
