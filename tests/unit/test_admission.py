"""Admission control's gate (kit.admission.Gate): places, the line, the limit that follows the
event loop's delay, and what is let through uncounted. The loop's delay is fed in as
measurements (`measured`), as the gate's own timer feeds it in a service (every TICK while the
process has requests)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from brain.kit import admission, loopback
from brain.kit.admission import (
    BURST_WAIT,
    CEILING_FACTOR,
    IDLE_AFTER,
    INTERVAL,
    OVERLOAD_AFTER,
    TARGET_DELAY,
    TICK,
)

SLOW, FAST = TARGET_DELAY * 4, 0.0
MIN_LIMIT = 8
"""The places of the gates here (BRAIN_MAX_IN_FLIGHT)."""


def scope(path: str, method: str = "GET", query: bytes = b"", host: bytes = b"x") -> Any:
    return {"type": "http", "path": path, "method": method, "query_string": query,
            "headers": [(b"host", host)]}  # fmt: skip


def feed(gate: admission.Gate, start: float, seconds: float, delay: float) -> float:
    """Measurements every TICK for `seconds` from `start`, each of `delay`; the time after."""
    now = start
    for _ in range(round(seconds / TICK)):
        now += TICK
        gate.measured(now, delay)
    return now


async def test_places_then_a_line_first_come_first_served() -> None:
    gate = admission.Gate(MIN_LIMIT, max_wait=5.0)
    for _ in range(MIN_LIMIT):
        assert await gate.enter() is None
    waiting = [asyncio.create_task(gate.enter()) for _ in range(2)]
    await asyncio.sleep(0)
    assert gate.running == MIN_LIMIT and len(gate.waiting) == 2
    gate.leave()  # the oldest waiting gets the place, at once
    assert await waiting[0] is None
    assert not waiting[1].done()
    gate.leave()
    assert await waiting[1] is None
    for _ in range(MIN_LIMIT):
        gate.leave()
    assert gate.running == 0 and not gate.waiting


async def test_as_many_waiting_as_the_ceiling_and_the_next_is_refused_at_once() -> None:
    gate = admission.Gate(MIN_LIMIT, max_wait=5.0)
    for _ in range(MIN_LIMIT):
        assert await gate.enter() is None
    line = [asyncio.create_task(gate.enter()) for _ in range(MIN_LIMIT * CEILING_FACTOR)]
    await asyncio.sleep(0)
    assert await gate.enter() == "queue_full"
    for task in line:
        task.cancel()
    await asyncio.gather(*line, return_exceptions=True)


async def test_while_overloaded_a_request_waits_max_wait_then_is_refused() -> None:
    gate = admission.Gate(MIN_LIMIT, max_wait=0.05)
    feed(gate, 0.0, OVERLOAD_AFTER + 0.1, SLOW)
    assert gate.overloaded
    for _ in range(gate.limit):
        assert await gate.enter() is None
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await gate.enter() == "waited"
    assert 0.04 <= loop.time() - started < 0.5


async def test_in_a_burst_a_request_waits_longer_and_is_served() -> None:
    """Not overloaded (the loop kept up until now): a waiting request is given more time, up
    to BURST_WAIT, and gets the place a request leaves."""
    gate = admission.Gate(MIN_LIMIT, max_wait=0.02)
    for _ in range(MIN_LIMIT):
        assert await gate.enter() is None
    waiter = asyncio.create_task(gate.enter())
    await asyncio.sleep(0.1)  # five times max_wait
    assert not waiter.done()
    gate.leave()
    assert await waiter is None
    assert BURST_WAIT > 0.1


async def test_a_waiter_that_goes_away_takes_no_place_with_it() -> None:
    gate = admission.Gate(MIN_LIMIT, max_wait=5.0)
    for _ in range(MIN_LIMIT):
        assert await gate.enter() is None
    gone = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    gate.leave()  # nobody waits any more: the place is free
    assert gate.running == MIN_LIMIT - 1
    assert await gate.enter() is None


async def test_a_place_handed_to_a_waiter_that_is_cancelled_at_once_is_given_back() -> None:
    gate = admission.Gate(MIN_LIMIT, max_wait=5.0)
    for _ in range(MIN_LIMIT):
        assert await gate.enter() is None
    waiter = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    gate.leave()  # handed over ...
    waiter.cancel()  # ... and the client left before the waiter ran
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.running == MIN_LIMIT - 1


def test_an_overload_is_a_standing_delay_not_a_burst() -> None:
    gate = admission.Gate(32, max_wait=0.02)
    now = feed(gate, 0.0, OVERLOAD_AFTER / 2, SLOW)  # a burst: delayed for a moment
    assert not gate.overloaded
    now = feed(gate, now, 0.1, FAST)
    now = feed(gate, now, OVERLOAD_AFTER + 0.1, SLOW)  # it stands: overloaded
    assert gate.overloaded
    now = feed(gate, now, OVERLOAD_AFTER / 2, FAST)  # out only once it stayed low as long
    assert gate.overloaded
    feed(gate, now, OVERLOAD_AFTER, FAST)
    assert not gate.overloaded


def test_a_process_without_requests_is_not_overloaded() -> None:
    gate = admission.Gate(32, max_wait=0.02)
    feed(gate, 0.0, OVERLOAD_AFTER + 0.1, SLOW)
    assert gate.overloaded
    gate.rest()  # IDLE_AFTER without a request
    assert not gate.overloaded and gate.delay == 0.0


async def test_the_timer_runs_while_there_are_requests_and_rests_without() -> None:
    """An idle process is not woken every TICK: the timer stops IDLE_AFTER after the last
    request, and the next request starts it again."""
    gate = admission.Gate(MIN_LIMIT, max_wait=0.02)
    ticks = 0
    measured = gate.measured

    def counted(now: float, delay: float) -> None:
        nonlocal ticks
        ticks += 1
        measured(now, delay)

    gate.measured = counted  # type: ignore[method-assign]
    stop = asyncio.Event()
    watching = asyncio.create_task(gate.watch(stop))
    assert await gate.enter() is None
    await asyncio.sleep(IDLE_AFTER + 0.3)  # a request in flight all along: measured
    assert gate._timer is not None and ticks >= 0.5 * IDLE_AFTER / TICK
    gate.leave()
    await asyncio.sleep(IDLE_AFTER + 0.3)
    assert gate._timer is None  # resting
    rested = ticks
    await asyncio.sleep(0.2)
    assert ticks == rested
    assert await gate.enter() is None  # a request: measured again
    assert gate._timer is not None
    await asyncio.sleep(0.1)
    assert ticks > rested
    gate.leave()
    stop.set()
    await watching
    assert gate._timer is None


async def test_a_limit_grown_in_a_burst_drops_to_the_floor_while_overloaded() -> None:
    gate = admission.Gate(MIN_LIMIT, max_wait=5.0)
    for _ in range(MIN_LIMIT):
        assert await gate.enter() is None
    line = [asyncio.create_task(gate.enter()) for _ in range(40)]
    await asyncio.sleep(0)
    now = feed(gate, 0.0, 0.1, FAST)  # waiting on the database: the limit grows
    assert MIN_LIMIT + 40 <= gate.limit <= MIN_LIMIT * CEILING_FACTOR  # room for all, no more
    assert [await task for task in line] == [None] * 40
    now = feed(gate, now, OVERLOAD_AFTER + 0.05, SLOW)
    assert gate.overloaded
    grown = gate.limit
    now = feed(gate, now, INTERVAL * 1.5, SLOW)
    assert gate.limit < grown
    feed(gate, now, 5.0, SLOW)
    assert gate.limit == gate.floor == MIN_LIMIT // CEILING_FACTOR  # an eighth of the base
    for _ in range(MIN_LIMIT + 40):
        gate.leave()
    assert gate.running == 0


async def test_while_overloaded_the_limit_follows_the_delay_and_is_back_at_the_base_after() -> None:
    """Under the floor of a CPU shared with others the limit keeps the loop's delay at the
    target: down while it is above, up by one a step while under half of it with requests
    waiting; once the overload ends, the base's places are open again, to those waiting."""
    base = 32
    gate = admission.Gate(base, max_wait=5.0)
    now = feed(gate, 0.0, OVERLOAD_AFTER + 3.0, SLOW)
    assert gate.overloaded and gate.limit == gate.floor == base // CEILING_FACTOR
    for _ in range(gate.limit):
        assert await gate.enter() is None
    line = [asyncio.create_task(gate.enter()) for _ in range(30)]
    await asyncio.sleep(0)
    # The delay is down to the target's half, requests wait: one more place every INTERVAL.
    now = feed(gate, now, 0.3, TARGET_DELAY / 4)
    assert gate.overloaded
    assert gate.floor + 2 <= gate.limit <= gate.floor + 3
    assert gate.running == gate.limit
    raised = gate.limit
    now = feed(gate, now, INTERVAL * 1.5, SLOW)  # and down again once the delay is back up
    assert gate.limit < raised
    feed(gate, now, OVERLOAD_AFTER + 0.3, FAST)  # the overload ends: the base, at least
    assert not gate.overloaded
    assert gate.limit >= base
    assert [await task for task in line] == [None] * 30  # (and more than the base: a burst)
    assert gate.running == gate.floor + 30


async def test_a_process_that_rests_is_back_at_the_base() -> None:
    gate = admission.Gate(32, max_wait=0.02)
    feed(gate, 0.0, OVERLOAD_AFTER + 3.0, SLOW)
    assert gate.limit == gate.floor
    gate.rest()
    assert gate.limit == 32


async def test_the_limit_grows_when_requests_wait_and_the_loop_keeps_up() -> None:
    """Requests waiting on the database do not delay the loop: places are added, and given to
    those waiting, up to the ceiling."""
    gate = admission.Gate(MIN_LIMIT, max_wait=5.0)
    for _ in range(MIN_LIMIT):
        assert await gate.enter() is None
    line = [asyncio.create_task(gate.enter()) for _ in range(3)]
    await asyncio.sleep(0)
    gate.measured(1.0, FAST)  # a quarter more: two places
    assert gate.limit == MIN_LIMIT + 2
    gate.measured(1.0 + TICK, FAST)  # and again, while one still waits
    assert [await task for task in line] == [None, None, None]
    assert gate.running == MIN_LIMIT + 3
    grown = gate.limit
    feed(gate, 1.0 + TICK, 1.0, FAST)  # nobody waits: no growth for nothing
    assert gate.limit == grown


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
