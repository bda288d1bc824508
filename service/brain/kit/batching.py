"""Group commit: calls that arrive together share one round trip.

A `Coalescer` flushes an item at once when fewer than `parallel` flushes are running (alone, a
call waits for nothing: no timer, no added latency); items that arrive while they run wait and
go together, up to `max_items` a flush, as soon as one ends. Under load a flush carries what
arrived during the previous one, so the batch grows with the load and the cost per item falls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """`await submit(item)` answers what `flush([..., item, ...])` returned in its place, or
    raises what the flush raised. `flush` returns one result per item, in their order; a result
    that is an exception is raised to that item's caller alone."""

    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[Sequence[R | Exception]]],
        *,
        max_items: int,
        parallel: int,
    ) -> None:
        self._flush = flush
        self.max_items = max_items
        self.parallel = parallel
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if len(self._running) < self.parallel:
            self._start()
        return await future

    def _start(self) -> None:
        batch = self._waiting[: self.max_items]
        del self._waiting[: self.max_items]
        task = asyncio.create_task(self._run(batch))
        self._running.add(task)

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"flush returned {len(results)} results for {len(batch)} items")
        except BaseException as exc:  # each caller raises it (cancelled: each is cancelled)
            for _, future in batch:
                if future.done():  # its caller was cancelled
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        finally:
            self._running.discard(asyncio.current_task())
            if self._waiting:
                self._start()
