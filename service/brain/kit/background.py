"""Background work of a service process: loops that end when asked, not when cancelled.

A task ends on its `stop` event: a cancellation alone can be swallowed by a driver in the
middle of a call, which would leave shutdown waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


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
