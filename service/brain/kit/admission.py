"""Admission control: past capacity, serve what is admitted at normal speed and refuse the rest
at once, instead of letting every request wait in an unbounded queue.

A service process runs its requests on one event loop. Past what its cores give it, every
request in flight waits its turn between each of its steps, and all of them slow down together,
without bound. The loop's delay (how late a timer fires, measured every `TICK`, 10 ms, while
the process has requests: an idle process is not woken for it) shows it, and tells a burst from
an overload, as CoDel does for a router's queue: a burst delays the loop for a moment, an
overload keeps it delayed. Each process:

- **runs at most `limit` requests at once.** It starts at `BRAIN_MAX_IN_FLIGHT` (32), its
  base, and may grow to `CEILING_FACTOR` (8) times that: while requests wait for a place and
  the loop is not delayed (its moving average under half of `TARGET_DELAY`: they wait on
  PostgreSQL or Redis, not on the CPU), by a quarter every tick. While the process is
  overloaded, the limit keeps the loop's delay at the target, every `INTERVAL` (100 ms): down
  by a quarter while the delay is above `TARGET_DELAY`, to as low as an eighth of the base
  (its floor, 4), and up by one while it is under half of it with requests waiting; once the
  overload ends it is back at the base at least. The base is more than one process needs at
  full speed (a few hundred requests a second at a few milliseconds each keep a handful in
  flight: Little's law); on a CPU the process shares with others (PostgreSQL, the other
  workers, on one core), a handful is all it can run at once without every one of them
  being slower.
- **is overloaded** when the loop's delay (a moving average over about 50 ms) has stayed above
  `TARGET_DELAY` (10 ms) for `OVERLOAD_AFTER` (1 s), and is no longer once it has stayed under
  half of that as long, or once it has had no request for `IDLE_AFTER` (1 s). A burst, such
  as 150 stores arriving at once, is over before that and is served.
- **lets a request that finds the limit reached wait**, first come first served, for a place (a
  request that ends hands its place straight to the oldest one waiting): while overloaded, for
  at most `BRAIN_MAX_QUEUE_MS` (20); otherwise for up to `BURST_WAIT` (1 s). Still waiting
  then, or finding as many already waiting as the ceiling, it is refused.

A refused request is answered before anything of it runs, its body unread (a refused write did
nothing): 503 problem details with `Retry-After: 1`. Reads and writes wait in the same line.
When the load drops, the loop is no longer delayed and nobody waits.

Not counted, so never refused or starved: `/health/*` and `/metrics` (a probe must see the
process alive and say why it is busy), event streams and long polls (they hold their place for
up to 30 s while doing nothing; their bound is Redis's blocking connections), and requests the
app makes to itself (`kit.loopback`: their outer request, /mcp's or the console's, was admitted).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
import urllib.parse
from typing import Any

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from brain.kit import loopback
from brain.observability import metrics

RETRY_AFTER_SECONDS = 1
LOG_EVERY = 10.0
REASONS = ("waited", "queue_full")
log = logging.getLogger("brain.admission")
TICK = 0.010
"""How often the loop's delay is measured (and the limit may grow), while the process has
requests. Each measurement wakes the loop: on this project's virtual machines a wake-up costs
about 100 µs of CPU, so a 5 ms timer in an idle process cost 2 % of a core, and 10 ms measures
a 10 ms target well enough."""
IDLE_AFTER = 1.0
"""How long after its last request the process stops measuring (and is not overloaded)."""
INTERVAL = 0.1
"""How often the limit drops while the process is overloaded."""
TARGET_DELAY = 0.010
"""The loop's delay the limit keeps under (CoDel's target)."""
SMOOTHING = 0.2
"""The weight of each measurement in the moving average of the loop's delay (about 5 ticks)."""
OVERLOAD_AFTER = 1.0
"""How long the delay must stand above TARGET_DELAY for the process to be overloaded."""
BURST_WAIT = 1.0
"""How long a request may wait for a place while the process is not overloaded."""
CEILING_FACTOR = 8
"""The limit's ceiling, and how many may wait, as a multiple of BRAIN_MAX_IN_FLIGHT."""
_EXEMPT_PREFIXES = ("/health/", "/metrics")
_STREAM = "/messages/stream"
_CONSOLE_INBOX = ("/console/", "/inbox")
"""The console's inbox: the API's event stream, as HTML."""


def exempt(scope: Scope) -> bool:
    """Requests that admission control lets through uncounted (the module's docstring)."""
    path: str = scope["path"]
    if path.startswith(_EXEMPT_PREFIXES) or path.endswith(_STREAM):
        return True
    if path.startswith(_CONSOLE_INBOX[0]) and path.endswith(_CONSOLE_INBOX[1]):
        return True
    for name, value in scope["headers"]:
        if name == b"host":
            if value == loopback.HOST:
                return True
            break
    if scope.get("method") == "GET" and path.endswith("/messages") and scope["query_string"]:
        wait = urllib.parse.parse_qs(scope["query_string"].decode("latin-1")).get("wait")
        try:
            return wait is not None and float(wait[0]) > 0
        except ValueError:
            return False  # the route answers its 422
    return False


class Gate:
    """One process's admission: at most `limit` requests at once (between `floor` and
    `ceiling`, starting at `base`), as many as `ceiling` more waiting, each for at most
    `max_wait` seconds."""

    def __init__(self, base: int, max_wait: float) -> None:
        self.base = self.limit = base
        self.floor = max(1, base // CEILING_FACTOR)
        self.ceiling = base * CEILING_FACTOR
        self.max_wait = max_wait
        self.running = 0
        self.waiting: collections.deque[asyncio.Future[bool]] = collections.deque()
        self.timers: dict[asyncio.Future[bool], asyncio.TimerHandle] = {}
        """The timer of each waiting request that was given more time (a burst)."""
        self.delay = 0.0
        """The moving average of the loop's delay."""
        self.delayed_since: float | None = None
        """Since when (loop time) the average has been across the edge of the state: above
        TARGET_DELAY when not overloaded, under half of it when overloaded."""
        self.overloaded = False
        self.adjusted = 0.0
        """When (loop time) the limit last changed while overloaded."""
        self._arrived = False
        """A request came since the timer's last tick (how it knows the process is busy)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop measured, while `watch` runs."""
        self._timer: asyncio.TimerHandle | None = None
        self._busy_at = 0.0
        metrics.ADMISSION_LIMIT.set(self.limit)
        for reason in REASONS:  # each series exists from the start, for rate() and alerts
            metrics.labelled(metrics.ADMISSION_SHED, reason)

    async def enter(self) -> str | None:
        """None once admitted (then `leave` when done); else why not: `queue_full`, `waited`."""
        self._arrived = True
        if self._timer is None and self._loop is not None:
            self._arm(self._loop.time())
        while self.waiting and self.waiting[0].done():  # expired, or their client went away
            self.waiting.popleft()
        if self.running < self.limit and not self.waiting:
            self.running += 1
            return None
        if len(self.waiting) >= self.ceiling:
            return "queue_full"
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        started = loop.time()
        timer = loop.call_later(self.max_wait, self._expire, waiter, started)
        self.waiting.append(waiter)
        metrics.ADMISSION_QUEUED.inc()
        try:
            admitted = await waiter
        except asyncio.CancelledError:  # the client went away while it waited
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.leave()  # its place had just been handed to it
            raise
        finally:
            self.timers.pop(waiter, timer).cancel()
            metrics.ADMISSION_WAIT.observe(loop.time() - started)
        return None if admitted else "waited"

    def leave(self) -> None:
        """A request ended: its place goes to the oldest one still waiting, unless the limit
        has dropped below those running."""
        if self.running <= self.limit:
            while self.waiting:
                waiter = self.waiting.popleft()
                if not waiter.done():
                    waiter.set_result(True)
                    return
        self.running -= 1

    def _expire(self, waiter: asyncio.Future[bool], started: float) -> None:
        """A waiting request's time is up: refused while overloaded (or after BURST_WAIT),
        else given more time."""
        if waiter.done():
            return
        loop = asyncio.get_running_loop()
        if self.overloaded or loop.time() - started + self.max_wait > BURST_WAIT:
            waiter.set_result(False)
        else:
            self.timers[waiter] = loop.call_later(self.max_wait, self._expire, waiter, started)

    def measured(self, now: float, delay: float) -> None:
        """One measurement of the loop's delay at `now` (loop time): whether the process is
        overloaded, and the limit (the module's docstring)."""
        metrics.ADMISSION_DELAY.observe(delay)
        self.delay += SMOOTHING * (delay - self.delay)
        # Into the overload after OVERLOAD_AFTER above the target, out of it after as long
        # under half of it: in between, the state holds (no flapping at the edge).
        crossing = self.delay < TARGET_DELAY / 2 if self.overloaded else self.delay > TARGET_DELAY
        if not crossing:
            self.delayed_since = None
        elif self.delayed_since is None:
            self.delayed_since = now
        elif now - self.delayed_since >= OVERLOAD_AFTER:
            self.overloaded = not self.overloaded
            self.delayed_since = None
            edge = "started" if self.overloaded else "ended"
            metrics.labelled(metrics.ADMISSION_OVERLOADS, edge).inc()
            if not self.overloaded:
                self._set_limit(max(self.limit, self.base))
        if self.overloaded:
            if now - self.adjusted >= INTERVAL:
                if self.delay > TARGET_DELAY:
                    self._set_limit(max(self.floor, self.limit - max(1, self.limit // 4)))
                    self.adjusted = now
                elif self.delay <= TARGET_DELAY / 2 and self.waiting:
                    self._set_limit(min(self.ceiling, self.limit + 1))
                    self.adjusted = now
        elif self.delay <= TARGET_DELAY / 2 and self.waiting and self.limit < self.ceiling:
            self._set_limit(min(self.ceiling, self.limit + max(1, self.limit // 4)))

    def _set_limit(self, limit: int) -> None:
        """The limit is now `limit`: places it added go to those waiting, oldest first (places
        it took away are taken back as requests end, `leave`)."""
        if limit == self.limit:
            return
        self.limit = limit
        while self.running < self.limit and self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(True)
                self.running += 1
        metrics.ADMISSION_LIMIT.set(self.limit)

    async def watch(self, stop: asyncio.Event) -> None:
        """Measure the loop's delay every TICK while the process has requests, until `stop` is
        set (a background task)."""
        self._loop = asyncio.get_running_loop()
        self._arm(self._loop.time())
        try:
            await stop.wait()
        finally:
            if self._timer is not None:
                self._timer.cancel()
            self._loop = self._timer = None

    def _arm(self, now: float) -> None:
        self._busy_at = now
        assert self._loop is not None
        self._timer = self._loop.call_at(now + TICK, self._tick, now + TICK)

    def _tick(self, planned: float) -> None:
        """The timer: one measurement, then the next one, unless the process has had no request
        for IDLE_AFTER; then it rests, not overloaded, until the next request arms it again."""
        assert self._loop is not None
        now = self._loop.time()
        self.measured(now, max(0.0, now - planned))
        if self.running or self.waiting or self._arrived:
            self._arrived, self._busy_at = False, now
        elif now - self._busy_at >= IDLE_AFTER:
            self._timer = None
            self.rest()
            return
        self._timer = self._loop.call_at(now + TICK, self._tick, now + TICK)

    def rest(self) -> None:
        """No request for IDLE_AFTER: nothing is served late, so the process is not overloaded."""
        self.delay, self.delayed_since = 0.0, None
        if self.overloaded:
            self.overloaded = False
            metrics.labelled(metrics.ADMISSION_OVERLOADS, "ended").inc()
        self._set_limit(max(self.limit, self.base))

    def sample(self) -> None:
        metrics.ADMISSION_OVERLOADED.set(1 if self.overloaded else 0)
        metrics.ADMISSION_IN_FLIGHT.set(self.running)
        metrics.ADMISSION_WAITING.set(sum(1 for w in self.waiting if not w.done()))


def _answer(detail: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A refusal's two ASGI messages, made once: refusing must cost next to nothing."""
    body = msgspec.json.encode(
        {"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": detail}
    )
    start = {
        "type": "http.response.start", "status": 503,
        "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", b"%d" % len(body)),
            (b"retry-after", b"%d" % RETRY_AFTER_SECONDS),
        ],
    }  # fmt: skip
    return start, {"type": "http.response.body", "body": body, "more_body": False}


def middleware(gate: Gate) -> type:
    """The app's outermost ASGI middleware (`create_app`): a refused request costs no request
    id, access log line, trace or latency sample (under overload those would cost as much as
    the refusal itself). It is counted in `brain_admission_shed_total`, and each process logs
    how many it refused, at most every LOG_EVERY seconds. With admission control off
    (BRAIN_MAX_IN_FLIGHT=0) `create_app` leaves it out of the stack."""
    answers = {  # REASONS
        "waited": _answer(
            f"the service is at capacity: this request waited {gate.max_wait * 1000:g} ms "
            f"without starting; retry after {RETRY_AFTER_SECONDS} s"
        ),
        "queue_full": _answer(
            f"the service is at capacity ({gate.ceiling} requests already wait in this "
            f"process); retry after {RETRY_AFTER_SECONDS} s"
        ),
    }  # fmt: skip
    counters = {reason: metrics.labelled(metrics.ADMISSION_SHED, reason) for reason in answers}
    refused_since = {"count": 0, "logged": time.monotonic()}

    def refused_one() -> None:
        refused_since["count"] += 1
        now = time.monotonic()
        if now - refused_since["logged"] >= LOG_EVERY:
            log.warning(
                "shedding load: %d requests refused in the last %.0f s (limit %d in flight)",
                refused_since["count"], now - refused_since["logged"], gate.limit,
            )  # fmt: skip
            refused_since.update(count=0, logged=now)

    class Admission:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP or exempt(scope):
                await self.app(scope, receive, send)
                return
            refused = await gate.enter()
            if refused is None:
                metrics.ADMISSION_ADMITTED.inc()
                try:
                    await self.app(scope, receive, send)
                finally:
                    gate.leave()
                return
            counters[refused].inc()
            refused_one()
            start, body = answers[refused]
            await send(start)  # type: ignore[arg-type]
            await send(body)  # type: ignore[arg-type]

    return Admission
