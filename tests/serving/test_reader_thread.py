"""The reader thread runs blocking calls off the event loop, in order: each caller gets its own result
or its own exception, a caller that leaves (cancelled) disturbs nobody, and the loop keeps running
while a call blocks."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from fraud_pipelines.serving.reader_thread import ReaderThread


def test_results_and_errors_come_back_to_their_callers_from_another_thread():
    reader = ReaderThread()
    loop_thread = threading.get_ident()

    def where(value: int) -> tuple[int, int]:
        return value * 2, threading.get_ident()

    def fails(value: int) -> int:
        raise KeyError(f"no card {value}")

    async def main():
        doubled, ran_on = await reader.run(where, 21)
        assert doubled == 42 and ran_on != loop_thread
        with pytest.raises(KeyError, match="no card 7"):
            await reader.run(fails, 7)
        results = await asyncio.gather(*(reader.run(where, i) for i in range(20)))
        assert [r for r, _ in results] == [2 * i for i in range(20)]
        assert len({thread for _, thread in results}) == 1  # one thread, calls one after another

    asyncio.run(main())
    reader.close()


def test_the_loop_runs_while_a_call_blocks():
    reader = ReaderThread()

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        started = time.perf_counter()
        assert await reader.run(time.sleep, 0.2) is None
        assert time.perf_counter() - started >= 0.2
        task.cancel()
        assert ticks >= 10  # the loop went on ticking during the blocking call

    asyncio.run(main())
    reader.close()


def test_a_cancelled_caller_leaves_the_next_calls_unharmed():
    reader = ReaderThread()
    gate = threading.Event()

    async def main():
        waiting = asyncio.create_task(reader.run(gate.wait, 5))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        gate.set()  # the call finishes after its caller left: its answer is dropped
        assert await reader.run(sum, [1, 2, 3]) == 6

    asyncio.run(main())
    reader.close()


def test_closed_refuses_new_calls():
    reader = ReaderThread()

    async def main():
        assert await reader.run(len, "abc") == 3
        reader.close()
        with pytest.raises(RuntimeError, match="closed"):
            await reader.run(len, "abc")

    asyncio.run(main())
    reader._thread.join(timeout=5)
    assert not reader._thread.is_alive()
