"""Background work of a service process: loops that end when asked, not when cancelled.

A task ends on its `stop` event: a cancellation alone can be swallowed by a driver in the
middle of a call, which would leave shutdown waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar


async def every(
    seconds: float,
    stop: asyncio.Event,
    tick: Callable[[], Awaitable[object]],
    *,
    last: bool = False,
) -> None:
    """Call `tick` now and then every `seconds` until `stop` is set; with `last`, once more
    when it is (so that what a tick flushes is flushed at shutdown too)."""
    while not stop.is_set():
        await tick()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
    if last:
        await tick()


T = TypeVar("T")


async def until(stop: asyncio.Event, items: AsyncIterator[T]) -> AsyncIterator[T]:
    """`items` until `stop` is set: the one awaited then is abandoned (its generator closed),
    so that a stream waiting for its next item ends at once."""
    stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            step: asyncio.Future[Any] = asyncio.ensure_future(anext(items))
            await asyncio.wait((step, stopping), return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                step.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await step
                return
            try:
                item = step.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        stopping.cancel()


def draining() -> contextlib.AbstractAsyncContextManager[asyncio.Event]:
    """An event set as soon as the process is asked to stop (SIGTERM, SIGINT), before uvicorn
    waits for open connections to close: long-lived answers (event streams) end on it, rather
    than holding the shutdown for its whole graceful timeout. The signal then goes on to the
    handler that had it (uvicorn's). Set at the latest when the block ends."""

    @contextlib.asynccontextmanager
    async def watching() -> AsyncIterator[asyncio.Event]:
        event = asyncio.Event()
        loop = asyncio.get_running_loop()
        chained: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous = signal.getsignal(sig)
                if not callable(previous):
                    continue

                def handler(signum: int, frame: Any, previous: Any = previous) -> None:
                    loop.call_soon_threadsafe(event.set)
                    previous(signum, frame)

                chained[sig] = (previous, handler)
                signal.signal(sig, handler)
        try:
            yield event
        finally:
            event.set()
            for sig, (previous, handler) in chained.items():
                if signal.getsignal(sig) is handler:
                    signal.signal(sig, previous)

    return watching()
