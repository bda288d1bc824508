"""brain.batching.Coalescer: what arrives together is flushed together, each gets its own."""

from __future__ import annotations

import asyncio

import pytest

from brain.kit import batching


class Recorder:
    """A flush that records its batches and takes `delay` seconds."""

    def __init__(self, delay: float = 0.01) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.running = 0
        self.most_running = 0

    async def __call__(self, items: list[int]) -> list[int | Exception]:
        self.batches.append(items)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        await asyncio.sleep(self.delay)
        self.running -= 1
        return [ValueError(f"odd {i}") if i < 0 else i * 10 for i in items]


async def test_alone_an_item_is_flushed_at_once() -> None:
    flush = Recorder()
    coalescer = batching.Coalescer(flush, max_items=10, parallel=1)
    assert await coalescer.submit(1) == 10
    assert await coalescer.submit(2) == 20
    assert flush.batches == [[1], [2]]


async def test_what_arrives_meanwhile_goes_together_up_to_max_items() -> None:
    flush = Recorder()
    coalescer = batching.Coalescer(flush, max_items=4, parallel=1)
    results = await asyncio.gather(*(coalescer.submit(i) for i in range(11)))
    assert results == [i * 10 for i in range(11)]
    assert flush.batches == [[0], [1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    assert flush.most_running == 1


async def test_parallel_flushes() -> None:
    flush = Recorder()
    coalescer = batching.Coalescer(flush, max_items=100, parallel=2)
    await asyncio.gather(*(coalescer.submit(i) for i in range(10)))
    assert flush.batches == [[0], [1], [2, 3, 4, 5, 6, 7, 8, 9]]
    assert flush.most_running == 2


async def test_an_exception_result_fails_its_caller_alone() -> None:
    coalescer = batching.Coalescer(Recorder(), max_items=100, parallel=1)
    results = await asyncio.gather(
        *(coalescer.submit(i) for i in (1, 2, -3, 4)), return_exceptions=True
    )
    assert results[:2] == [10, 20] and results[3] == 40
    assert isinstance(results[2], ValueError) and str(results[2]) == "odd -3"


async def test_a_failed_flush_fails_its_batch_and_the_next_goes_on() -> None:
    calls = []

    async def flush(items: list[int]) -> list[int]:
        calls.append(items)
        await asyncio.sleep(0.01)
        if 2 in items:
            raise ConnectionError("down")
        return items

    coalescer = batching.Coalescer(flush, max_items=2, parallel=1)
    results = await asyncio.gather(*(coalescer.submit(i) for i in range(5)), return_exceptions=True)
    assert calls == [[0], [1, 2], [3, 4]]
    assert results[0] == 0 and results[3:] == [3, 4]
    assert all(isinstance(r, ConnectionError) for r in results[1:3])


async def test_a_flush_returning_the_wrong_count_fails_its_callers() -> None:
    async def flush(items: list[int]) -> list[int]:
        return items[:-1]

    coalescer = batching.Coalescer(flush, max_items=10, parallel=1)
    with pytest.raises(RuntimeError, match="0 results for 1 items"):
        await coalescer.submit(1)


async def test_a_cancelled_caller_leaves_the_others_their_results() -> None:
    flush = Recorder(delay=0.05)
    coalescer = batching.Coalescer(flush, max_items=10, parallel=1)
    first = asyncio.ensure_future(coalescer.submit(0))
    await asyncio.sleep(0)
    waiting = [asyncio.ensure_future(coalescer.submit(i)) for i in (1, 2, 3)]
    await asyncio.sleep(0)
    waiting[1].cancel()
    assert await first == 0
    assert await waiting[0] == 10 and await waiting[2] == 30
    assert waiting[1].cancelled()
    assert flush.batches == [[0], [1, 2, 3]]  # its item was flushed: like a request cut off
