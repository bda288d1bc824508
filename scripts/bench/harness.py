"""The measuring: a run and its figures, the timing helpers and the CPU accounting."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def server_ms(header: str | None) -> float | None:
    """The `dur` of `Server-Timing: app;dur=<ms>`."""
    for metric in (header or "").split(","):
        for param in metric.split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key == "dur":
                with contextlib.suppress(ValueError):
                    return float(value)
    return None


# -- CPU accounting -------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its direct children (uvicorn's workers)."""
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    ticks = 0
    for each in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{each}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def service_workers(pid: int) -> list[int]:
    """The processes that serve requests: uvicorn's spawned workers, else the process itself."""
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        workers = [
            int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()
        ]
        return workers or [pid]
    return [pid]


def connections_per_worker(pid: int, port: int) -> list[int]:
    """Established TCP connections to `port` held by each service worker (each worker listens on
    its own SO_REUSEPORT socket: the kernel picks one per connection, by its address hash)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "01" and int(fields[1].rpartition(":")[2], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    counts = []
    for worker in service_workers(pid):
        held = 0
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{worker}/fd").iterdir():
                with contextlib.suppress(OSError):
                    held += os.readlink(fd) in inodes
        counts.append(held)
    return counts


def machine_busy() -> float:
    """CPU seconds the whole machine spent not idle (all processes, every core)."""
    with contextlib.suppress(OSError, ValueError):
        ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    return 0.0


# -- runs ---------------------------------------------------------------------------------------


class Answer:
    """A response read whole: what the measurements look at."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: Any, content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers  # .get(name) ignores case (aiohttp's CIMultiDictProxy, or a dict
        self.content = content  # with lower-case names)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        return json.loads(self.content)

    def raise_for_status(self) -> None:
        if not self.is_success:
            raise RuntimeError(f"HTTP {self.status_code}: {self.content[:300]!r}")


@dataclasses.dataclass
class Run:
    """Successful requests of one measurement, their latencies, and what went wrong."""

    name: str
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    server_ms: list[float] = dataclasses.field(default_factory=list)
    cache: Counter[str] = dataclasses.field(default_factory=Counter)
    errors: Counter[str] = dataclasses.field(default_factory=Counter)
    seconds: float = 0.0
    client_cpu: float = 0.0  # cores used by this load generator
    service_cpu: float | None = None  # cores used by the service's processes
    machine_cpu: float = 0.0  # cores busy on the whole machine (PostgreSQL and Redis included)
    connections: list[int] | None = None  # the load generator's connections per service worker
    items: int = 1  # memories per operation (a batch store): `ops` counts items

    def record(self, ms: float, response: Answer | None, expect: int) -> None:
        if response is not None and response.status_code != expect:
            self.errors[f"HTTP {response.status_code}"] += 1
            return
        self.latencies_ms.append(ms)
        if response is not None:
            timing = server_ms(response.headers.get("server-timing"))
            if timing is not None:
                self.server_ms.append(timing)
            self.cache[response.headers.get("x-brain-cache", "none")] += 1

    @property
    def ops(self) -> float:
        return self.items * len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    @property
    def error_share(self) -> float:
        total = len(self.latencies_ms) + sum(self.errors.values())
        return sum(self.errors.values()) / total if total else 0.0

    def share(self, outcome: str) -> float | None:
        total = sum(self.cache.values())
        return self.cache[outcome] / total if total else None

    def p(self, q: float, *, service: bool = False) -> float | None:
        return percentile(self.server_ms if service else self.latencies_ms, q)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requests": len(self.latencies_ms),
            "seconds": round(self.seconds, 3),
            "ops_per_s": round(self.ops, 1),
            "p50_ms": self.p(50),
            "p95_ms": self.p(95),
            "p99_ms": self.p(99),
            "in_service_p50_ms": self.p(50, service=True),
            "in_service_p95_ms": self.p(95, service=True),
            "cache": dict(self.cache),
            "errors": dict(self.errors),
            "client_cpu_cores": round(self.client_cpu, 2),
            "service_cpu_cores": None if self.service_cpu is None else round(self.service_cpu, 2),
            "machine_cpu_cores": round(self.machine_cpu, 2),
            "connections_per_worker": self.connections,
        }


Op = Callable[[int], Awaitable[Answer | None]]


async def measure(
    name: str,
    op: Op,
    *,
    concurrency: int,
    duration: float,
    warmup: float,
    expect: int = 200,
    service_pid: int | None = None,
    items: int = 1,
) -> Run:
    """`concurrency` workers call `op(worker)` in a loop; requests started during warm-up are not
    counted. An `op` answers an HTTP response (checked against `expect`) or None (a baseline);
    `items` is how many memories one op carries (a batch)."""
    run = Run(name, items=items)
    started = time.perf_counter()
    record_from = started + warmup
    end = record_from + duration
    cpu0, svc0 = time.process_time(), service_pid and cpu_seconds(service_pid)
    busy0 = machine_busy()

    async def worker(index: int) -> None:
        while (start := time.perf_counter()) < end:
            try:
                response = await op(index)
            except Exception as exc:
                if start >= record_from:
                    run.errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
                continue
            if start >= record_from:
                run.record((time.perf_counter() - start) * 1000, response, expect)

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    finished = time.perf_counter()
    run.seconds = finished - record_from
    run.client_cpu = (time.process_time() - cpu0) / (finished - started)
    run.machine_cpu = (machine_busy() - busy0) / (finished - started)
    if service_pid:
        run.service_cpu = (cpu_seconds(service_pid) - svc0) / (finished - started)
    return run


async def measure_requests(
    name: str,
    op: Op,
    *,
    requests: int,
    concurrency: int,
    warmup: int,
    server_pid: int,
    expect: int = 200,
) -> tuple[Run, float]:
    """`concurrency` workers share `warmup` uncounted requests, then exactly `requests` counted
    ones; (the counted run, the CPU seconds of the server's processes during it).

    A count rather than a duration: both sides of a CPU comparison then do the same work, and
    CPU per request is the server's CPU over the same number of requests."""

    async def send(run: Run | None, count: int) -> None:
        left = iter(range(count))

        async def worker(index: int) -> None:
            for _ in left:  # each worker takes the next request until none is left
                start = time.perf_counter()
                try:
                    response = await op(index)
                except Exception as exc:
                    if run is not None:
                        run.errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
                    continue
                if run is not None:
                    run.record((time.perf_counter() - start) * 1000, response, expect)

        await asyncio.gather(*(worker(i) for i in range(concurrency)))

    await send(None, warmup)
    run = Run(name)
    cpu0, svc0, busy0 = time.process_time(), cpu_seconds(server_pid), machine_busy()
    started = time.perf_counter()
    await send(run, requests)
    run.seconds = time.perf_counter() - started
    server_cpu = cpu_seconds(server_pid) - svc0
    run.client_cpu = (time.process_time() - cpu0) / run.seconds
    run.machine_cpu = (machine_busy() - busy0) / run.seconds
    run.service_cpu = server_cpu / run.seconds
    return run, server_cpu
