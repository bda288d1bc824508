"""Admission control's places (kit.admission.Gate) and what it lets through uncounted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from brain.kit import admission, loopback


def scope(path: str, method: str = "GET", query: bytes = b"", host: bytes = b"x") -> Any:
    return {"type": "http", "path": path, "method": method, "query_string": query,
            "headers": [(b"host", host)]}  # fmt: skip


async def test_places_then_a_queue_then_refusals() -> None:
    gate = admission.Gate(limit=2, max_wait=5.0)
    assert await gate.enter() is None
    assert await gate.enter() is None
    waiting = [asyncio.create_task(gate.enter()) for _ in range(2)]
    await asyncio.sleep(0)
    assert await gate.enter() == "queue_full"  # as many waiting as may run
    gate.leave()  # the first waiting gets the place, at once
    assert await waiting[0] is None
    assert not waiting[1].done()
    gate.leave()
    assert await waiting[1] is None
    assert gate.running == 2
    for _ in range(2):
        gate.leave()
    assert gate.running == 0 and not gate.waiting


async def test_a_request_that_waits_too_long_is_refused() -> None:
    gate = admission.Gate(limit=1, max_wait=0.05)
    assert await gate.enter() is None
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await gate.enter() == "waited"
    assert 0.04 <= loop.time() - started < 1.0
    gate.leave()
    assert gate.running == 0
    assert await gate.enter() is None  # its place was not lost


async def test_a_waiter_that_goes_away_takes_no_place_with_it() -> None:
    gate = admission.Gate(limit=1, max_wait=5.0)
    assert await gate.enter() is None
    gone = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    gate.leave()  # nobody waits any more: the place is free
    assert gate.running == 0
    assert await gate.enter() is None


async def test_a_place_handed_to_a_waiter_that_is_cancelled_at_once_is_given_back() -> None:
    gate = admission.Gate(limit=1, max_wait=5.0)
    assert await gate.enter() is None
    waiter = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    gate.leave()  # handed over ...
    waiter.cancel()  # ... and the client left before the waiter ran
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.running == 0


@pytest.mark.parametrize(
    ("request_scope", "uncounted"),
    [
        (scope("/health/ready"), True),
        (scope("/health/live"), True),
        (scope("/metrics"), True),
        (scope("/v1/agents/a/messages/stream"), True),
        (scope("/v1/agents/a/messages", query=b"wait=5&limit=3"), True),
        (scope("/v1/agents/a/messages", query=b"wait=0"), False),
        (scope("/v1/agents/a/messages", query=b"wait=soon"), False),
        (scope("/v1/agents/a/messages"), False),
        (scope("/v1/memories", "POST", host=loopback.HOST), True),
        (scope("/v1/memories", "POST"), False),
        (scope("/v1/memories/query", "POST"), False),
        (scope("/console/agents/a"), False),
        (scope("/console/agents/a/inbox"), True),
        (scope("/mcp", "POST"), False),
    ],
)
def test_what_is_never_counted(request_scope: Any, uncounted: bool) -> None:
    assert admission.exempt(request_scope) is uncounted
