"""What every part shares: the servers, the clients of them, the random source, the results."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import random
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import redis.asyncio as aioredis
from tests.support.service import Service

from brain import embedded, migrate
from scripts.bench import client, data
from scripts.bench.client import Client
from scripts.bench.harness import Op, Run, connections_per_worker, fmt, measure

CLEAR = {"confirm": "delete all data"}


@contextlib.contextmanager
def servers(workdir: Path) -> Iterator[tuple[embedded.Postgres, embedded.Redis]]:
    """Private PostgreSQL (migrated) and Redis under `workdir`, stopped on the way out."""
    postgres = embedded.Postgres(workdir / "postgres")
    cache = embedded.Redis(workdir / "redis")
    try:
        postgres.start()
        migrate.apply(postgres.url())
        cache.start()
        yield postgres, cache
    finally:
        with contextlib.suppress(Exception):
            cache.stop()
        postgres.stop()


def brain_service(
    workdir: Path, database_url: str, redis_url: str, workers: int, source: Path | None = None
) -> Service:
    """`brain serve` (not started) against the benchmark's own PostgreSQL and Redis; with
    `source`, the package of another checkout (to compare versions side by side)."""
    env = {
        "BRAIN_DATABASE_URL": database_url,
        "BRAIN_REDIS_URL": redis_url,
        "BRAIN_ADMIN_TOKEN": secrets.token_urlsafe(24),
        "BRAIN_LOG_LEVEL": "WARNING",
        "BRAIN_DATA_DIR": str(workdir / "data"),
    }
    if source is not None:  # ahead of the editable install on the service's sys.path
        env["PYTHONPATH"] = str(source.resolve() / "service")
    return Service(env, workers, workdir / "service.log")


@dataclasses.dataclass
class Pair:
    """An API measurement beside one of its baselines."""

    operation: str
    baseline: str
    api: Run
    base: Run

    @property
    def ratio(self) -> float | None:
        return self.api.ops / self.base.ops if self.base.ops else None


@dataclasses.dataclass
class Scale:
    """Sequential uncached queries of one shape at one table size, API and raw."""

    rows: int
    shape: str
    api: Run
    base: Run


@dataclasses.dataclass
class Latency:
    """Sequential share -> delivery samples: `api.latencies_ms` from sending the POST until the
    message arrives, `api.server_ms` the share's in-service time; `base` a raw equivalent."""

    path: str
    baseline: str
    api: Run
    base: Run
    share_ms: list[float] = dataclasses.field(default_factory=list)  # the POST alone


@dataclasses.dataclass
class Cpu:
    """The same requests to Brain and to the minimal app: CPU seconds of each one's processes."""

    request: str
    baseline: str
    api: Run
    base: Run
    api_cpu: float
    base_cpu: float

    def us(self, side: str) -> float | None:
        """CPU µs per counted request of `side` ("api" or "base")."""
        run, cpu = (self.api, self.api_cpu) if side == "api" else (self.base, self.base_cpu)
        return cpu / len(run.latencies_ms) * 1e6 if run.latencies_ms else None

    @property
    def ratio(self) -> float | None:
        api, base = self.us("api"), self.us("base")
        return api / base if api is not None and base else None


class Bench:
    """Clients of the service, of PostgreSQL and of Redis, and the results of every part."""

    def __init__(
        self, args: argparse.Namespace, service: Service, db_url: str, redis_url: str, workdir: Path
    ) -> None:
        self.args = args
        self.service = service
        self.workdir = workdir  # temporary: the servers' data and logs
        self.token = service.env["BRAIN_ADMIN_TOKEN"]
        self.db_url = db_url
        self.redis_url = redis_url
        self.rng = random.Random(args.seed)
        self.pairs: list[Pair] = []
        self.scale: list[Scale] = []
        self.peer: list[Pair] = []  # Brain's API run beside LangGraph's AsyncPostgresStore
        self.latency: list[Latency] = []
        self.cpu: list[Cpu] = []
        self.notes: list[str] = []
        # One single-connection client per worker (made in `open`, inside the event loop):
        # together they hold `concurrency` keep-alive connections.
        self.clients: list[Client] = []
        self.redis = aioredis.Redis.from_url(redis_url, max_connections=args.concurrency * 2)
        self.conns: list[psycopg.AsyncConnection[Any]] = []
        self.base_conns: list[psycopg.AsyncConnection[Any]] = []  # messaging's baseline database
        # Messaging measurements last half as long with --quick (the memory ones do not change).
        self.msg = {"duration": max(args.duration / 2, 0.5) if args.quick else args.duration}

    async def open(self) -> None:
        self.clients = [self.client() for _ in range(self.args.concurrency)]
        self.http = self.clients[0]
        for _ in range(self.args.concurrency):
            self.conns.append(await self.connect())

    def client(self) -> Client:
        return Client(self.service.url, self.token)

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        """A connection to the service's database, set up as the service's are."""
        conn = await psycopg.AsyncConnection.connect(self.db_url, autocommit=True)
        await conn.execute(data.SESSION_SETUP)
        return conn

    async def close(self) -> None:
        for each in self.clients:
            await each.aclose()
        await self.redis.aclose()
        for conn in [*self.conns, *self.base_conns]:
            await conn.close()

    async def balance(self, clients: list[Client], pid: int, port: int, probe: str) -> None:
        """`client.balance`, noting when the connections could not be spread evenly."""
        if not await client.balance(clients, pid, port, probe):
            self.notes.append("could not spread the connections evenly over the workers")

    async def run(
        self, name: str, op: Op, *, clients: list[Client] | None = None, **kw: Any
    ) -> Run:
        pid, port = self.service.pid, self.service.port
        await self.balance(self.clients if clients is None else clients, pid, port, "/health/live")
        kw.setdefault("concurrency", self.args.concurrency)
        kw.setdefault("duration", self.args.duration)
        kw.setdefault("warmup", self.args.warmup)
        run = await measure(name, op, service_pid=pid, **kw)
        if run.cache:  # an API run: its connections are still open
            run.connections = connections_per_worker(pid, port)
        unit = "items/s" if run.items > 1 else "ops/s"
        print(f"  {name:<46} {run.ops:9.1f} {unit}  p50 {fmt(run.p(50))} ms", flush=True)
        return run

    @staticmethod
    def progress(run: Run) -> None:
        print(f"  {run.name:<46} p50 {fmt(run.p(50))} ms  p95 {fmt(run.p(95))} ms", flush=True)

    async def clear(self) -> None:
        """Empty the tables, then let the service clear too (which retires its cache)."""
        await self.conns[0].execute("TRUNCATE memories, agents, idempotency_keys")
        response = await self.http.post("/v1/admin/clear", json=CLEAR)
        response.raise_for_status()

    async def load(self, count: int) -> list[str]:
        """COPY `count` generated memories into the service's database; their ids."""
        return await data.load(self.conns[0], self.rng, count)
