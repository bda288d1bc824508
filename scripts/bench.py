"""`make bench`: the Brain HTTP API beside raw psycopg / redis-py baselines, printed, not asserted.

The script starts its own PostgreSQL and Redis in a temporary directory and the real service
(`brain serve`) on a free port. It measures store, get, cached query and uncached query through
HTTP, each beside the same work done directly through psycopg or redis-py at the same concurrency,
then the latency of sequential uncached queries at three table sizes (10k, 100k, 1M rows loaded
with COPY) with the growth of p50 beside the growth of log(rows), then a peer: LangGraph's
`AsyncPostgresStore` (langgraph-checkpoint-postgres, in-process, no HTTP) doing the equivalent put
and filtered search in a third database of the same server, beside the API's store, uncached and
cached query. Then messaging, with ten
registered agents: share (POST /v1/messages) beside the service's two outbox INSERTs through
psycopg and beside a raw XADD; the pending + ack round trip beside XREADGROUP + XACK; broadcast
beside the INSERTs of the message and its nine deliveries followed by nine pipelined XADDs; and
the end-to-end latency from sending a share to receiving it over Server-Sent Events and over a
long poll, beside a raw XADD waking a blocked XREADGROUP. The messaging INSERT baselines run in a
second database of the same server with the same schema, so that the service's outbox relay
(which appends every committed delivery not yet marked as appended) does not pick their rows up.
Client-side latencies come from `time.perf_counter`; "in-service" latencies from the
`Server-Timing: app;dur=<ms>` header.
Exit status: 1 when the service does not start or more than 1% of HTTP requests fail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import msgspec
import psycopg
import redis.asyncio as aioredis

from brain import embedded, migrate
from brain.kit import db
from brain.memory.schemas import QueryIn
from brain.memory.service import QueryPlan

ROOT = Path(__file__).resolve().parents[1]
SQL = db.load_queries(ROOT / "service" / "brain" / "memory" / "queries.sql")
WORKSPACE = "default"
AGENTS = [f"agent-{i:02d}" for i in range(50)]
TOPICS = [f"topic-{i}" for i in range(10)]
TAG_POOL = [f"t{i:03d}" for i in range(200)]
KINDS = ["observation", "decision", "plan", "result", "question"]
ANCIENT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
CLEAR = {"confirm": "delete all data"}
MAX_ERROR_SHARE = 0.01
SESSION_SETUP = "SET statement_timeout = '15s'; SET TimeZone = 'UTC'"  # as brain.db.pool does
COPY_SQL = (
    "COPY memories (workspace, id, agent_id, context, tags, importance, created_at) FROM STDIN"
)
MSG_SQL = db.load_queries(ROOT / "service" / "brain" / "messaging" / "queries.sql")
PEERS = [f"peer-{i:02d}" for i in range(10)]  # every registered agent while messaging
RECIPIENTS = PEERS[:8]  # direct messages go to these; PEERS[-1] sends them
BASELINE_DB = "brain_bench_baseline"
PEER_DB = "brain_bench_peer"  # LangGraph's AsyncPostgresStore
JSON_HEADER = {"Content-Type": "application/json"}
ACK_EVERY = 20  # the end-to-end runs acknowledge in batches of this many
BATCH = 100  # memories per POST /v1/memories/batch (its limit)
WIDE = 32  # concurrent clients of the second store pair (stores arriving together share INSERTs)
# Messages and deliveries committed as the share path commits them (the outbox), created long
# enough ago that the service's relay appends them to the recipients' streams on its next round.
PRELOAD_SQL = """
WITH m AS (
    INSERT INTO messages (workspace, id, from_agent, to_agent, context, priority, created_at)
    SELECT %(workspace)s, gen_random_uuid(), %(from_agent)s, t.to_agent, t.context::jsonb, 1,
           now() - interval '10 seconds'
    FROM unnest(%(to_agents)s::text[], %(contexts)s::text[]) AS t(to_agent, context)
    RETURNING workspace, id, to_agent, seq
)
INSERT INTO message_deliveries (workspace, message_id, agent_id, seq)
SELECT workspace, id, to_agent, seq FROM m
"""


# -- generated data ---------------------------------------------------------------------------


def _vocabulary(size: int) -> list[str]:
    """Pronounceable made-up words, so that full-text search has something to match."""
    rng = random.Random(7)
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 3))))
    return sorted(words)


VOCAB = _vocabulary(400)


@dataclasses.dataclass(frozen=True, slots=True)
class Memory:
    agent_id: str
    context: str  # compact JSON, about 200 bytes
    tags: list[str]
    importance: float

    def body(self) -> bytes:
        """The POST /v1/memories request body."""
        head = json.dumps({"agent_id": self.agent_id, "tags": self.tags})[:-1]
        return f'{head},"importance":{self.importance},"context":{self.context}}}'.encode()

    def insert_params(self) -> dict[str, Any]:
        """The parameters of queries.sql `insert`, as the service passes them."""
        return {
            "workspace": WORKSPACE,
            "agent_id": self.agent_id,
            "context": self.context,
            "tags": self.tags,
            "importance": self.importance,
            "expires_at": None,
            "ttl_seconds": None,
        }


def batch_insert_params(memories: Sequence[Memory]) -> dict[str, Any]:
    """The parameters of queries.sql `insert_batch`, as the service passes them."""
    return {
        "workspace": WORKSPACE,
        "ids": [uuid.uuid4() for _ in memories],
        "agent_ids": [m.agent_id for m in memories],
        "contexts": [m.context for m in memories],
        "tags": [json.dumps(m.tags) for m in memories],
        "importances": [m.importance for m in memories],
        "expires": [None] * len(memories),
        "ttls": [None] * len(memories),
    }


def fake_memory(rng: random.Random) -> Memory:
    context = {
        "kind": rng.choice(KINDS),
        "summary": " ".join(rng.choices(VOCAB, k=20)),
        "step": rng.randint(1, 100_000),
        "source": "bench",
        "confidence": round(rng.random(), 3),
    }
    tags = [rng.choice(TOPICS), *rng.sample(TAG_POOL, 2)]
    compact = json.dumps(context, separators=(",", ":"))
    return Memory(rng.choice(AGENTS), compact, tags, round(rng.random(), 4))


def sql_for(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The statement and parameters the service runs for a query body."""
    plan = QueryPlan(msgspec.convert(body, QueryIn), WORKSPACE)
    return SQL[f"query_{plan.order}"], plan.params


def _ancient(rng: random.Random) -> str:
    """A `since` far before every row: no effect on the result, but a body that never repeats."""
    return (ANCIENT + dt.timedelta(microseconds=rng.randrange(10**12))).isoformat()


SHAPES: dict[str, Callable[[random.Random], dict[str, Any]]] = {
    "agent + recent": lambda r: {"agent_id": r.choice(AGENTS), "since": _ancient(r)},
    "tags any": lambda r: {"tags": r.sample(TAG_POOL, 2), "since": _ancient(r)},
    "text search": lambda r: {"text": r.choice(VOCAB), "since": _ancient(r)},
    "min_importance, by importance": lambda r: {
        "min_importance": 0.5 + r.random() * 1e-6,
        "order": "importance",
    },
}


def uncached_body(rng: random.Random) -> dict[str, Any]:
    """Agent + tag filter with a `min_importance` that never repeats (always a cache miss)."""
    return {
        "agent_id": rng.choice(AGENTS),
        "tags": [rng.choice(TOPICS)],
        "min_importance": 0.3 + rng.random() * 1e-6,
    }


def peer_value(m: Memory) -> dict[str, Any]:
    """The value the peer stores for a memory: its context with tags and importance beside, and
    `topic` (the first tag), since the store's filter compares fields (no array containment)."""
    return {**json.loads(m.context), "tags": m.tags, "topic": m.tags[0], "importance": m.importance}


def peer_filter(body: dict[str, Any]) -> dict[str, Any]:
    """The peer's filter for an `uncached_body` (the agent is the namespace)."""
    return {"topic": body["tags"][0], "importance": {"$gte": body["min_importance"]}}


def rows_label(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows % 1_000_000 == 0 else f"{rows // 1000}k"


def share_body(sender: str, recipient: str | None, context: str) -> bytes:
    """A POST /v1/messages body (POST /v1/messages/broadcast without a recipient)."""
    to = "" if recipient is None else f'"to_agent":"{recipient}",'
    return f'{{"from_agent":"{sender}",{to}"context":{context}}}'.encode()


def message_params(sender: str, recipient: str | None, context: str) -> dict[str, Any]:
    """The parameters of messaging/queries.sql `publish_*`, as the service passes them."""
    return {
        "workspace": WORKSPACE, "from_agent": sender, "to_agent": recipient,
        "context": context, "priority": 1, "ttl_seconds": None,
    }  # fmt: skip


def stream_fields(message_id: str, body: bytes) -> dict[str, Any]:
    """A stream entry shaped like the service's (message id, body, expiry, retry flag)."""
    return {"id": message_id, "m": body, "exp": b"0", "r": b"0"}


def ack_body(ids: Sequence[str]) -> bytes:
    return b'{"ids":[' + b",".join(b'"%s"' % i.encode() for i in ids) + b"]}"


class _Taken(msgspec.Struct):
    id: str


class _Pending(msgspec.Struct):
    items: list[_Taken]


PENDING = msgspec.json.Decoder(_Pending)


# -- measurements -----------------------------------------------------------------------------


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


class Client:
    """The measured calls' HTTP client: one keep-alive connection, aiohttp.

    The load generator shares the 2 cores with the service, so its CPU per request is taken from
    the service: measured here against /health/live, httpx costs about 0.59 ms of CPU per request
    and aiohttp 0.12 ms (a bare asyncio stream 0.03 ms)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url, self.token = base_url, token
        self.session = self._session()

    def _session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            self.base_url,
            connector=aiohttp.TCPConnector(limit=1),
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=aiohttp.ClientTimeout(total=30),
        )

    async def reconnect(self) -> None:
        await self.session.close()
        self.session = self._session()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        if json is not None:
            content, headers = msgspec.json.encode(json), JSON_HEADER
        async with self.session.request(method, path, data=content, headers=headers) as r:
            return Answer(r.status, r.headers, await r.read())

    async def get(self, path: str) -> Answer:
        return await self.request("GET", path)

    async def post(self, path: str, **kw: Any) -> Answer:
        return await self.request("POST", path, **kw)

    async def put(self, path: str, **kw: Any) -> Answer:
        return await self.request("PUT", path, **kw)

    async def aclose(self) -> None:
        await self.session.close()


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


# -- the servers --------------------------------------------------------------------------------


class Service:
    """`brain serve` as a subprocess against the benchmark's own PostgreSQL and Redis."""

    def __init__(self, workdir: Path, database_url: str, redis_url: str, workers: int) -> None:
        self.port = embedded.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_urlsafe(24)
        self.log_path = workdir / "service.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            "BRAIN_DATABASE_URL": database_url,
            "BRAIN_REDIS_URL": redis_url,
            "BRAIN_ADMIN_TOKEN": self.token,
            "BRAIN_LOG_LEVEL": "WARNING",
            "BRAIN_DATA_DIR": str(workdir / "data"),
        }
        self.workers = workers

    def start(self, timeout: float = 90) -> None:
        brain = Path(sys.prefix) / "bin" / "brain"
        command = [str(brain), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "--workers", str(self.workers)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the service did not become ready on {self.url}:\n{tail}")

    def stop(self) -> None:
        """SIGTERM (uvicorn stops its workers), then SIGKILL after 15 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


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


# -- the benchmark ------------------------------------------------------------------------------


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


class Bench:
    """Clients of the service, of PostgreSQL and of Redis, and the measurements made with them."""

    def __init__(self, args: argparse.Namespace, service: Service, db_url: str, redis_url: str):
        self.args = args
        self.service = service
        self.db_url = db_url
        self.redis_url = redis_url
        self.rng = random.Random(args.seed)
        self.pairs: list[Pair] = []
        self.scale: list[Scale] = []
        self.peer: list[Pair] = []  # Brain's API run beside LangGraph's AsyncPostgresStore
        self.latency: list[Latency] = []
        self.notes: list[str] = []
        # One single-connection client per worker (made in `open`, inside the event loop):
        # together they hold `concurrency` keep-alive connections.
        self.clients: list[Client] = []
        self.redis = aioredis.Redis.from_url(redis_url, max_connections=args.concurrency * 2)
        self.conns: list[psycopg.AsyncConnection[Any]] = []
        self.base_conns: list[psycopg.AsyncConnection[Any]] = []  # the baseline database
        # Messaging measurements last half as long with --quick (the memory ones do not change).
        self.msg = {"duration": max(args.duration / 2, 0.5) if args.quick else args.duration}

    async def open(self) -> None:
        token = self.service.token
        self.clients = [Client(self.service.url, token) for _ in range(self.args.concurrency)]
        self.http = self.clients[0]
        for _ in range(self.args.concurrency):
            self.conns.append(await self.connect())

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        """A connection to the service's database, set up as the service's are."""
        conn = await psycopg.AsyncConnection.connect(self.db_url, autocommit=True)
        await conn.execute(SESSION_SETUP)
        return conn

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()
        await self.redis.aclose()
        for conn in [*self.conns, *self.base_conns]:
            await conn.close()

    async def balance(self, clients: list[Client]) -> None:
        """Spread the clients' keep-alive connections evenly over the service workers.

        The kernel picks a worker per new connection by its address hash: with 8 connections on
        2 workers, 8+0 is no rarity, and such a run would measure one worker while the other
        idles. Many clients even out; the benchmark's few reconnect until they do. (The service
        closes connections idle for 5 s, so this runs before every measurement.)"""
        pid = self.service_pid
        workers = len(service_workers(pid)) if pid else 0
        if workers < 2:
            return
        for _ in range(100):
            await asyncio.gather(*(c.get("/health/live") for c in clients))
            held = connections_per_worker(pid, self.service.port)
            if max(held) <= -(-sum(held) // workers):
                return
            await asyncio.gather(*(c.reconnect() for c in clients))
        self.notes.append("could not spread the connections evenly over the workers")

    async def run(
        self, name: str, op: Op, *, clients: list[Client] | None = None, **kw: Any
    ) -> Run:
        await self.balance(self.clients if clients is None else clients)
        kw.setdefault("concurrency", self.args.concurrency)
        kw.setdefault("duration", self.args.duration)
        kw.setdefault("warmup", self.args.warmup)
        run = await measure(name, op, service_pid=self.service_pid, **kw)
        if run.cache and self.service_pid:  # an API run: its connections are still open
            run.connections = connections_per_worker(self.service_pid, self.service.port)
        unit = "items/s" if run.items > 1 else "ops/s"
        print(f"  {name:<46} {run.ops:9.1f} {unit}  p50 {fmt(run.p(50))} ms", flush=True)
        return run

    @property
    def service_pid(self) -> int | None:
        return self.service.process.pid if self.service.process else None

    # -- data -----------------------------------------------------------------------------------

    async def clear(self) -> None:
        """Empty the tables, then let the service clear too (which retires its cache)."""
        await self.conns[0].execute("TRUNCATE memories, agents, idempotency_keys")
        response = await self.http.post("/v1/admin/clear", json=CLEAR)
        response.raise_for_status()

    async def load(self, count: int) -> list[str]:
        """COPY `count` generated memories (created over the last 30 days); return their ids."""
        rng, now, ids = self.rng, dt.datetime.now(dt.UTC), []
        started = time.perf_counter()
        conn = self.conns[0]
        await conn.execute("SET statement_timeout = 0")  # a million rows take longer than 15 s
        # COPY's text format built here, 10k rows a write: a million rows in well under a minute
        # (write_row per row costs several times the generation). Generated contexts, tags and
        # agent ids hold no character that text format escapes (backslash, tab, newline).
        async with conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
            for low in range(0, count, 10_000):
                lines = []
                for _ in range(min(10_000, count - low)):
                    m = fake_memory(rng)
                    memory_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                    created = (now - dt.timedelta(seconds=rng.random() * 30 * 86400)).isoformat()
                    lines.append(
                        f"{WORKSPACE}\t{memory_id}\t{m.agent_id}\t{m.context}\t"
                        f"{{{','.join(m.tags)}}}\t{m.importance!r}\t{created}\n"
                    )
                    ids.append(memory_id)
                await copy.write("".join(lines))
        await conn.execute("VACUUM ANALYZE memories")
        await conn.execute(SESSION_SETUP)
        cur = await conn.execute("SELECT count(*) FROM memories")
        total = (await cur.fetchone() or [0])[0]
        took = time.perf_counter() - started
        print(f"  loaded {count} memories in {took:.1f} s (table: {total})", flush=True)
        return ids

    # -- phases ---------------------------------------------------------------------------------

    async def store(self) -> None:
        memories = [fake_memory(self.rng) for _ in range(4096)]
        bodies = [m.body() for m in memories]
        params = [m.insert_params() for m in memories]
        counter = iter(range(10**9))
        json_header = {"Content-Type": "application/json"}

        async def api(worker: int) -> Answer:
            body = bodies[next(counter) % len(bodies)]
            return await self.clients[worker].post(
                "/v1/memories", content=body, headers=json_header
            )

        async def raw(worker: int) -> None:
            cur = await self.conns[worker].execute(SQL["insert"], params[next(counter) % 4096])
            await cur.fetchone()

        api_run = await self.run("store: POST /v1/memories", api, expect=201)
        base_run = await self.run("store: psycopg INSERT (autocommit)", raw)
        self.pairs.append(Pair("store", "psycopg INSERT", api_run, base_run))

        # Stores that arrive together share INSERTs in the service (brain.batching): the same pair
        # with WIDE clients at once.
        wide = [Client(self.service.url, self.service.token) for _ in range(WIDE)]
        wide_conns = [await self.connect() for _ in range(WIDE)]
        try:

            async def api_wide(worker: int) -> Answer:
                body = bodies[next(counter) % len(bodies)]
                return await wide[worker].post("/v1/memories", content=body, headers=json_header)

            async def raw_wide(worker: int) -> None:
                params_ = params[next(counter) % 4096]
                await (await wide_conns[worker].execute(SQL["insert"], params_)).fetchone()

            name = f"store: POST /v1/memories, c={WIDE}"
            api_run = await self.run(name, api_wide, expect=201, concurrency=WIDE, clients=wide)
            base_run = await self.run(
                f"store: psycopg INSERT, c={WIDE}", raw_wide, concurrency=WIDE
            )
            self.pairs.append(Pair(f"store, c={WIDE}", "psycopg INSERT", api_run, base_run))
        finally:
            for client in wide:
                await client.aclose()
            for conn in wide_conns:
                await conn.close()

        # The same memories, BATCH to a request / to one insert_batch statement; rates in items/s.
        batches = [memories[low : low + BATCH] for low in range(0, len(memories), BATCH)]
        batch_bodies = [b'{"items":[' + b",".join(m.body() for m in b) + b"]}" for b in batches]
        batch_params = [batch_insert_params(b) for b in batches]

        async def api_batch(worker: int) -> Answer:
            body = batch_bodies[next(counter) % len(batch_bodies)]
            return await self.clients[worker].post(
                "/v1/memories/batch", content=body, headers=json_header
            )

        async def raw_batch(worker: int) -> None:
            p = batch_params[next(counter) % len(batch_params)]
            p = {**p, "ids": [uuid.uuid4() for _ in p["ids"]]}  # new ids, as the service makes
            await (await self.conns[worker].execute(SQL["insert_batch"], p)).fetchall()

        name = f"store batch: POST /v1/memories/batch ({BATCH} per request)"
        api_run = await self.run(name, api_batch, expect=201, items=BATCH)
        base_run = await self.run("store batch: psycopg insert_batch", raw_batch, items=BATCH)
        self.pairs.append(
            Pair(f"store, {BATCH} a request", "psycopg insert_batch", api_run, base_run)
        )

    async def get(self, ids: list[str]) -> None:
        chosen = self.rng.sample(ids, min(1000, len(ids)))
        paths = [f"/v1/memories/{i}" for i in chosen]
        uuids = [uuid.UUID(i) for i in chosen]
        first = await self.http.get(paths[0])
        first.raise_for_status()
        await self._warm(paths)
        # The service caches "<token>\n<body>"; the token is a few bytes.
        value = b"x" * (len(first.content) + 4)
        await self.redis.mset({f"bench:mem:{n}": value for n in range(len(chosen))})
        pick = self.rng.randrange

        async def api(worker: int) -> Answer:
            return await self.clients[worker].get(paths[pick(len(paths))])

        async def cached(_: int) -> None:
            await self.redis.get(f"bench:mem:{pick(len(chosen))}")

        async def raw(worker: int) -> None:
            params = {"workspace": WORKSPACE, "id": uuids[pick(len(uuids))]}
            await (await self.conns[worker].execute(SQL["get"], params)).fetchone()

        api_run = await self.run("get: GET /v1/memories/{id}", api)
        redis_run = await self.run(f"get: redis GET ({len(value)} B)", cached)
        pg_run = await self.run("get: psycopg SELECT by primary key", raw)
        self.pairs.append(Pair("get by id", "redis GET", api_run, redis_run))
        self.pairs.append(Pair("get by id", "psycopg SELECT pk", api_run, pg_run))

    async def _warm(self, paths: list[str]) -> None:
        """Read every path once, spread over the workers' clients, so that the service caches it."""
        step = len(self.clients)

        async def share(worker: int) -> None:
            for path in paths[worker::step]:
                (await self.clients[worker].get(path)).raise_for_status()

        await asyncio.gather(*(share(w) for w in range(step)))

    async def cached_query(self) -> None:
        bodies = [
            {"agent_id": AGENTS[i * 3], "tags": [TOPICS[i % len(TOPICS)]], "limit": 20}
            for i in range(12)
        ]
        sizes = []
        for body in bodies:  # the first read of each fills the cache
            response = await self.http.post("/v1/memories/query", json=body)
            response.raise_for_status()
            sizes.append(len(response.content))
        value = b"x" * (int(sum(sizes) / len(sizes)) + 4)
        await self.redis.set("bench:query", value)
        encoded = [json.dumps(b).encode() for b in bodies]
        json_header = {"Content-Type": "application/json"}
        pick = self.rng.randrange

        async def api(worker: int) -> Answer:
            body = encoded[pick(len(encoded))]
            client = self.clients[worker]
            return await client.post("/v1/memories/query", content=body, headers=json_header)

        async def raw(_: int) -> None:
            await self.redis.get("bench:query")

        api_run = await self.run("cached query: POST /v1/memories/query", api)
        base_run = await self.run(f"cached query: redis GET ({len(value)} B)", raw)
        self.pairs.append(Pair("cached query", "redis GET", api_run, base_run))
        # The in-service time at concurrency includes waiting for the worker's event loop; alone:
        alone = {"concurrency": 1, "duration": max(self.args.duration / 2, 0.5)}
        api_alone = await self.run("cached query: POST /v1/memories/query, c=1", api, **alone)
        base_alone = await self.run("cached query: redis GET, c=1", raw, **alone)
        self.pairs.append(Pair("cached query, c=1", "redis GET, c=1", api_alone, base_alone))
        hit = api_run.share("hit") or 0.0
        if hit < 0.99:
            self.notes.append(f"cached query: only {hit:.1%} of answers were cache hits")

    async def uncached_query(self) -> None:
        rng = self.rng

        async def api(worker: int) -> Answer:
            return await self.clients[worker].post("/v1/memories/query", json=uncached_body(rng))

        async def raw(worker: int) -> None:
            statement, params = sql_for(uncached_body(rng))
            conn = self.conns[worker]
            await (await conn.execute(statement, params, prepare=db.PLAN_EACH_CALL)).fetchall()

        api_run = await self.run("uncached query: POST /v1/memories/query", api)
        base_run = await self.run("uncached query: psycopg SELECT", raw)
        self.pairs.append(Pair("uncached query", "psycopg SELECT", api_run, base_run))
        miss = api_run.share("miss") or 0.0
        if miss < 0.99:
            self.notes.append(f"uncached query: only {miss:.1%} of answers were cache misses")

    async def scale_at(self, size: int) -> None:
        """Sequential uncached queries of each shape at the current table size."""
        budget = max(self.args.duration / 2, 0.5)
        rng = self.rng
        for shape, make in SHAPES.items():

            async def api(_: int, make: Callable[..., dict[str, Any]] = make) -> Answer:
                return await self.http.post("/v1/memories/query", json=make(rng))

            async def raw(_: int, make: Callable[..., dict[str, Any]] = make) -> None:
                statement, params = sql_for(make(rng))
                conn = self.conns[0]
                await (await conn.execute(statement, params, prepare=db.PLAN_EACH_CALL)).fetchall()

            label = f"{rows_label(size)} {shape}"
            alone = {"concurrency": 1, "duration": budget, "warmup": 0.3}
            api_run = await self.run(f"{label}: API", api, **alone)
            base_run = await self.run(f"{label}: psycopg", raw, **alone)
            self.scale.append(Scale(size, shape, api_run, base_run))
            miss = api_run.share("miss") or 0.0
            if miss < 0.99:
                self.notes.append(f"{label}: only {miss:.1%} of answers were cache misses")

    # -- the peer: LangGraph's AsyncPostgresStore ------------------------------------------------

    async def peer_store(self, rows: int) -> None:
        """put and filtered search through `AsyncPostgresStore` (in-process) in its own database,
        at the API runs' concurrency; beside the API's store, uncached and cached query runs."""
        try:
            from langgraph.store.base import PutOp
            from langgraph.store.postgres.aio import AsyncPostgresStore
        except ImportError:
            self.notes.append("peer skipped: langgraph-checkpoint-postgres is not installed")
            return
        await self.conns[0].execute(f"CREATE DATABASE {PEER_DB}")
        url = psycopg.conninfo.make_conninfo(self.db_url, dbname=PEER_DB)
        size = self.args.concurrency
        pool = {"min_size": size, "max_size": size}
        rng = self.rng
        async with AsyncPostgresStore.from_conn_string(url, pool_config=pool) as store:
            await store.setup()
            values = [peer_value(fake_memory(rng)) for _ in range(4096)]
            counter = iter(range(10**9))

            async def put(_: int) -> None:
                value = values[next(counter) % len(values)]
                await store.aput(("agents", rng.choice(AGENTS)), str(uuid.uuid4()), value)

            put_run = await self.run("peer: AsyncPostgresStore.aput", put)
            # The same number of items as the API's uncached query ran over, then search.
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute("TRUNCATE store")
                started = time.perf_counter()
                for low in range(0, rows, 2000):
                    ops = []
                    for _ in range(min(2000, rows - low)):
                        m = fake_memory(rng)
                        ops.append(PutOp(("agents", m.agent_id), str(uuid.uuid4()), peer_value(m)))
                    await store.abatch(ops)
                await conn.execute("VACUUM ANALYZE store")
                took = time.perf_counter() - started
                print(f"  loaded {rows} items into the peer's store in {took:.1f} s", flush=True)
            found: list[int] = []

            async def search(_: int) -> None:
                body = uncached_body(rng)
                items = await store.asearch(
                    ("agents", body["agent_id"]), filter=peer_filter(body), limit=20
                )
                found.append(len(items))

            search_run = await self.run("peer: AsyncPostgresStore.asearch", search)
        await self.conns[0].execute(f"DROP DATABASE {PEER_DB}")
        api = {p.operation: p.api for p in self.pairs}
        self.peer += [
            Pair("put / store", "aput", api["store"], put_run),
            Pair("put / store, items/s", "aput", api[f"store, {BATCH} a request"], put_run),
            Pair("filtered search, uncached", "asearch", api["uncached query"], search_run),
            Pair("filtered search, cached", "asearch", api["cached query"], search_run),
        ]
        if found:
            self.notes.append(
                f"peer asearch: {sum(found) / len(found):.1f} items per answer on average "
                f"(limit 20)"
            )

    # -- messaging ------------------------------------------------------------------------------

    async def open_baseline(self) -> None:
        """A second database with the same schema and agents, for the messaging INSERT baselines:
        the service's relay scans its own database's outbox only."""
        await self.conns[0].execute(f"CREATE DATABASE {BASELINE_DB}")
        url = psycopg.conninfo.make_conninfo(self.db_url, dbname=BASELINE_DB)
        await asyncio.to_thread(migrate.apply, url)
        for _ in range(self.args.concurrency):
            conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
            await conn.execute(SESSION_SETUP)
            self.base_conns.append(conn)
        await self.base_conns[0].execute(
            "INSERT INTO agents (workspace, id) SELECT %s, unnest(%s::text[])", (WORKSPACE, PEERS)
        )

    async def reset_messaging(self) -> None:
        """Empty the tables, clear through the service (which deletes the registered agents'
        streams), drop the baselines' keys, register the peers again."""
        await self.conns[0].execute(
            "TRUNCATE messages, message_deliveries, memories, idempotency_keys"
        )
        (await self.http.post("/v1/admin/clear", json=CLEAR)).raise_for_status()
        for conn in self.base_conns[:1]:
            await conn.execute("TRUNCATE messages, message_deliveries")
        async for key in self.redis.scan_iter(match="bench:*", count=1000):
            await self.redis.unlink(key)
        for agent in PEERS:
            (await self.http.put(f"/v1/agents/{agent}", json={})).raise_for_status()

    async def _drain_outbox(self, limit_s: float) -> tuple[int, int, float]:
        """Wait until no delivery is left in the outbox (`enqueued = false`) or `limit_s` passes;
        (the backlog at first, the backlog at last, the seconds waited)."""
        started, first = time.perf_counter(), None
        while True:
            cur = await self.conns[0].execute(MSG_SQL["outbox_backlog"])
            backlog = int((await cur.fetchone() or [0])[0])
            first = backlog if first is None else first
            took = time.perf_counter() - started
            if backlog == 0 or took > limit_s:
                return first, backlog, took
            await asyncio.sleep(0.1)

    async def settle(self, after: str) -> None:
        """Wait for the relay, so that its work after one run does not land in the next."""
        first, left, took = await self._drain_outbox(120)
        if left:
            self.notes.append(f"{after}: the outbox still held {left} after {took:.0f} s")
        elif first:
            print(f"  outbox after {after}: {first} rows; the relay emptied it in {took:.1f} s")
            self.notes.append(
                f"{after}: {first} deliveries were still outbox rows (enqueued = false) when the "
                f"run ended; the relay took {took:.1f} s more to mark them appended"
            )

    def _contexts(self, count: int) -> list[str]:
        return [fake_memory(self.rng).context for _ in range(count)]

    async def share(self) -> None:
        contexts = self._contexts(4096)
        sender, rng = PEERS[-1], self.rng
        picks = [(rng.choice(RECIPIENTS), c) for c in contexts]
        bodies = [share_body(sender, to, c) for to, c in picks]
        params = [message_params(sender, to, c) for to, c in picks]
        counter = iter(range(10**9))
        first = await self.http.post("/v1/messages", content=bodies[0], headers=JSON_HEADER)
        first.raise_for_status()
        message = first.content  # the body the service appends to the stream

        async def api(worker: int) -> Answer:
            body = bodies[next(counter) % len(bodies)]
            client = self.clients[worker]
            return await client.post("/v1/messages", content=body, headers=JSON_HEADER)

        async def raw_sql(worker: int) -> None:
            p = params[next(counter) % len(params)]
            conn = self.base_conns[worker]
            row = await (await conn.execute(MSG_SQL["publish_direct"], p)).fetchone()
            assert row is not None and row[2] is not None

        async def raw_xadd(worker: int) -> None:
            key = f"bench:share:{RECIPIENTS[worker % len(RECIPIENTS)]}"
            await self.redis.xadd(key, stream_fields(str(uuid.uuid4()), message))

        api_run = await self.run("share: POST /v1/messages", api, expect=201, **self.msg)
        await self.settle("share: POST /v1/messages")
        sql_run = await self.run("share: psycopg publish_direct", raw_sql, **self.msg)
        xadd_run = await self.run(f"share: redis XADD ({len(message)} B)", raw_xadd, **self.msg)
        self.pairs.append(Pair("share", "psycopg publish statement", api_run, sql_run))
        self.pairs.append(Pair("share", "redis XADD", api_run, xadd_run))

    async def preload(self, count: int) -> None:
        """Commit `count` direct messages to the recipients in bulk and let the relay append
        them to their streams."""
        started = time.perf_counter()
        contexts = self._contexts(min(count, 4096))
        to = [RECIPIENTS[i % len(RECIPIENTS)] for i in range(count)]
        for low in range(0, count, 10_000):
            high = min(low + 10_000, count)
            await self.conns[0].execute(
                PRELOAD_SQL,
                {
                    "workspace": WORKSPACE, "from_agent": PEERS[-1], "to_agents": to[low:high],
                    "contexts": [contexts[i % len(contexts)] for i in range(low, high)],
                },
            )  # fmt: skip
        await self.conns[0].execute("ANALYZE messages, message_deliveries")
        committed = time.perf_counter() - started
        _, left, took = await self._drain_outbox(180)
        if left:
            self.notes.append(f"the relay had not appended {left} preloaded messages in {took} s")
        print(f"  preloaded {count} messages in {committed:.1f} s, relayed in {took:.1f} s")

    async def pending_ack(self) -> None:
        # Enough that neither side runs dry: measured rates stay well under 1000 round trips
        # of 5.5 messages on average (API) and 7000 (redis-py) per second on this kind of machine.
        seconds = self.msg["duration"] + self.args.warmup
        await self.preload(int(5500 * seconds))
        rng = self.rng
        empty: Counter[str] = Counter()

        async def api(worker: int) -> Answer:
            agent = RECIPIENTS[worker % len(RECIPIENTS)]
            client = self.clients[worker]
            path = f"/v1/agents/{agent}/messages"
            got = await client.get(f"{path}?limit={rng.randint(1, 10)}&consumer=w{worker}")
            if got.status_code != 200:
                return got
            ids = [item.id for item in PENDING.decode(got.content).items]
            took = server_ms(got.headers.get("server-timing")) or 0.0
            if not ids:
                empty["api"] += 1
                return got
            acked = await client.post(f"{path}/ack", content=ack_body(ids), headers=JSON_HEADER)
            if acked.status_code != 200:
                return acked
            if acked.json()["acked"] != len(ids):
                empty["api acked fewer"] += 1
            took += server_ms(acked.headers.get("server-timing")) or 0.0
            return Answer(200, {"server-timing": f"app;dur={took:.3f}"}, b"")

        api_run = await self.run("pending+ack: GET pending, POST ack", api, **self.msg)
        await self.settle("pending+ack")

        message = (await self.http.get(f"/v1/agents/{RECIPIENTS[0]}/messages?limit=1")).content
        body = message[len(b'{"items":[') : -2]
        streams = [f"bench:pending:{w}" for w in range(self.args.concurrency)]
        per_stream = int(7000 * 5.5 * seconds / max(self.args.concurrency, 2))
        started = time.perf_counter()
        for key in streams:
            await self.redis.xgroup_create(key, "g", id="0", mkstream=True)
            for low in range(0, per_stream, 2000):
                pipe = self.redis.pipeline(transaction=False)
                for _ in range(min(2000, per_stream - low)):
                    pipe.xadd(key, stream_fields(str(uuid.uuid4()), body))
                await pipe.execute()
        took = time.perf_counter() - started
        print(f"  filled {len(streams)} streams with {per_stream} entries each in {took:.1f} s")

        async def raw(worker: int) -> None:
            key = streams[worker]
            got = await self.redis.xreadgroup(
                "g", f"c{worker}", {key: ">"}, count=rng.randint(1, 10)
            )
            if not got or not got[0][1]:
                empty["redis-py"] += 1
                return
            await self.redis.xack(key, "g", *(entry[0] for entry in got[0][1]))

        base_run = await self.run("pending+ack: redis XREADGROUP + XACK", raw, **self.msg)
        self.pairs.append(Pair("pending+ack", "XREADGROUP+XACK", api_run, base_run))
        await self.redis.unlink(*streams)
        for side, times in empty.items():
            self.notes.append(f"pending+ack ({side}): {times} round trips found nothing to take")

    async def broadcast(self) -> None:
        contexts = self._contexts(4096)
        rng = self.rng
        picks = [(rng.choice(PEERS), c) for c in contexts]
        bodies = [share_body(sender, None, c) for sender, c in picks]
        params = [message_params(sender, None, c) for sender, c in picks]
        counter = iter(range(10**9))
        others = len(PEERS) - 1

        async def api(worker: int) -> Answer:
            body = bodies[next(counter) % len(bodies)]
            client = self.clients[worker]
            return await client.post("/v1/messages/broadcast", content=body, headers=JSON_HEADER)

        async def raw(worker: int) -> None:
            p = params[next(counter) % len(params)]
            conn = self.base_conns[worker]
            row = await (await conn.execute(MSG_SQL["publish_broadcast"], p)).fetchone()
            assert row is not None and row[2] is not None
            recipients = row[6]
            fields = stream_fields(str(row[2]), row[5].encode())
            pipe = self.redis.pipeline(transaction=False)
            for agent in recipients:
                pipe.xadd(f"bench:broadcast:{agent}", fields)
            await pipe.execute()

        name = f"broadcast: POST /v1/messages/broadcast ({others})"
        api_run = await self.run(name, api, expect=201, **self.msg)
        await self.settle("broadcast")
        base_run = await self.run(
            f"broadcast: psycopg tx + {others} XADD pipelined", raw, **self.msg
        )
        baseline = f"tx 1+{others} rows, {others} XADD pipe"
        self.pairs.append(Pair(f"broadcast to {others}", baseline, api_run, base_run))

    def _sse_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.service.url,
            headers={"Authorization": f"Bearer {self.service.token}"},
            timeout=httpx.Timeout(30, read=None),
        )

    async def delivery_latency(self) -> None:
        samples = 50 if self.args.quick else 200
        print(f"end-to-end share -> delivery ({samples} sequential samples each)", flush=True)
        sse, sse_share = await self.over_sse(RECIPIENTS[0], samples)
        poll, poll_share = await self.over_long_poll(RECIPIENTS[1], samples)
        wake = await self.raw_wake(samples)
        baseline = "XADD -> XREADGROUP BLOCK"
        self.latency.append(Latency("SSE (GET .../stream)", baseline, sse, wake, sse_share))
        self.latency.append(Latency("long poll (wait=5)", baseline, poll, wake, poll_share))

    async def _share_to(self, agent: str) -> tuple[float, Answer, str | None]:
        """Send one message to `agent`; (when it was sent, the answer, the message id)."""
        body = share_body(PEERS[-1], agent, fake_memory(self.rng).context)
        sent = time.perf_counter()
        answer = await self.http.post("/v1/messages", content=body, headers=JSON_HEADER)
        return sent, answer, answer.json()["id"] if answer.status_code == 201 else None

    async def _ack(self, agent: str, ids: list[str]) -> None:
        if ids:
            path, body = f"/v1/agents/{agent}/messages/ack", ack_body(ids)
            (await self.http.post(path, content=body, headers=JSON_HEADER)).raise_for_status()
            ids.clear()

    async def over_sse(self, agent: str, samples: int) -> tuple[Run, list[float]]:
        arrived: dict[str, float] = {}
        waiting: dict[str, asyncio.Future[float]] = {}

        async def read(response: httpx.Response) -> None:
            event = ident = None
            async for line in response.aiter_lines():
                if not line:  # the end of an event
                    if event == "message" and ident:
                        at = arrived[ident] = time.perf_counter()
                        future = waiting.pop(ident, None)
                        if future is not None and not future.done():
                            future.set_result(at)
                    event = ident = None
                    continue
                name, _, value = line.partition(":")
                if name == "event":
                    event = value.strip()
                elif name == "id":
                    ident = value.strip()

        run, share_ms, unacked = Run("share -> SSE event"), [], []
        async with self._sse_client() as client:
            path = f"/v1/agents/{agent}/messages/stream?consumer=bench"
            async with client.stream("GET", path) as response:
                response.raise_for_status()
                reader = asyncio.create_task(read(response))
                try:
                    for index in range(samples + 5):  # the first five warm up
                        sent, answer, ident = await self._share_to(agent)
                        posted = time.perf_counter()
                        if ident is None:
                            run.record(0.0, answer, 201)
                            continue
                        at = arrived.get(ident)
                        if at is None:
                            future = waiting[ident] = asyncio.get_running_loop().create_future()
                            try:
                                at = await asyncio.wait_for(future, 5)
                            except TimeoutError:
                                run.errors["no event within 5 s"] += 1
                                continue
                        if index >= 5:
                            run.record((at - sent) * 1000, answer, 201)
                            share_ms.append((posted - sent) * 1000)
                        unacked.append(ident)
                        if len(unacked) >= ACK_EVERY:
                            await self._ack(agent, unacked)
                    await self._ack(agent, unacked)
                finally:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                        await reader
        self._progress(run)
        return run, share_ms

    async def over_long_poll(self, agent: str, samples: int) -> tuple[Run, list[float]]:
        path = f"/v1/agents/{agent}/messages?limit=10&wait=5&consumer=bench"
        run, share_ms, unacked = Run("share -> long poll answer"), [], []
        async with self._sse_client() as client:

            async def poll() -> tuple[httpx.Response, float]:
                answer = await client.get(path)
                return answer, time.perf_counter()

            for index in range(samples + 5):
                waiter = asyncio.create_task(poll())
                await asyncio.sleep(0.01)  # let the poll reach its blocking read
                sent, answer, ident = await self._share_to(agent)
                posted = time.perf_counter()
                got, at = await waiter
                taken = [i.id for i in PENDING.decode(got.content).items] if got.is_success else []
                unacked.extend(taken)
                if ident is None or ident not in taken:
                    run.errors["share failed" if ident is None else "not in the poll's answer"] += 1
                elif index >= 5:
                    run.record((at - sent) * 1000, answer, 201)
                    share_ms.append((posted - sent) * 1000)
                if len(unacked) >= ACK_EVERY:
                    await self._ack(agent, unacked)
            await self._ack(agent, unacked)
        self._progress(run)
        return run, share_ms

    async def raw_wake(self, samples: int) -> Run:
        """XADD on one connection waking an XREADGROUP BLOCK on another, as above (10 ms apart)."""
        key = "bench:wake"
        body = share_body(PEERS[-1], RECIPIENTS[0], fake_memory(self.rng).context)
        await self.redis.xgroup_create(key, "g", id="0", mkstream=True)
        blocker = aioredis.Redis.from_url(self.redis_url)
        run = Run("XADD -> XREADGROUP BLOCK")
        try:

            async def read() -> tuple[Any, float]:
                got = await blocker.xreadgroup("g", "c", {key: ">"}, count=10, block=5000)
                return got, time.perf_counter()

            for index in range(samples + 5):
                waiter = asyncio.create_task(read())
                await asyncio.sleep(0.01)
                sent = time.perf_counter()
                await self.redis.xadd(key, stream_fields(str(uuid.uuid4()), body))
                got, at = await waiter
                if not got:
                    run.errors["no entry within 5 s"] += 1
                    continue
                await self.redis.xack(key, "g", *(entry[0] for entry in got[0][1]))
                if index >= 5:
                    run.record((at - sent) * 1000, None, 0)
        finally:
            await blocker.aclose()
            await self.redis.unlink(key)
        self._progress(run)
        return run

    @staticmethod
    def _progress(run: Run) -> None:
        print(f"  {run.name:<46} p50 {fmt(run.p(50))} ms  p95 {fmt(run.p(95))} ms", flush=True)

    async def messaging(self) -> None:
        await self.open_baseline()
        await self.reset_messaging()
        await self.share()
        await self.reset_messaging()
        await self.pending_ack()
        await self.reset_messaging()
        await self.broadcast()
        await self.reset_messaging()
        await self.delivery_latency()

    async def everything(self) -> None:
        sizes = (2_000, 5_000, 20_000) if self.args.quick else (10_000, 100_000, 1_000_000)
        small = sizes[0]
        parts = self.args.parts
        if "memory" in parts:
            print("store (empty table)", flush=True)
            await self.store()
            print(f"get / cached query / uncached query ({small} memories)", flush=True)
            await self.clear()
            ids = await self.load(small)
            await self.get(ids)
            await self.cached_query()
            await self.uncached_query()
            if "peer" in parts:
                print(f"peer: LangGraph AsyncPostgresStore ({small} items to search)", flush=True)
                await self.peer_store(small)
        if "scale" in parts:
            print("uncached query latency by table size (concurrency 1)", flush=True)
            await self.clear()
            loaded = 0
            for size in sizes:
                await self.load(size - loaded)
                loaded = size
                await self.scale_at(size)
        if "messaging" in parts:
            print(f"messaging ({len(PEERS)} registered agents)", flush=True)
            await self.messaging()


# -- output ---------------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def table(headers: list[str], rows: list[list[str]], left: int = 2) -> str:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        out = [
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out)

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


PAIR_HEADERS = (
    "operation|baseline|API ops/s|API p50|API p95|svc p50|base ops/s|base p50|base p95|ratio"
)
SCALE_HEADERS = "rows|shape|n|API p50|API p95|svc p50|svc p95|raw p50|raw p95"
PEER_HEADERS = (
    "operation|Brain (HTTP)|ops/s|p50|p95|peer (in-process)|ops/s|p50|p95|ops/s Brain/peer|"
    "p95 Brain/peer"
)
LATENCY_HEADERS = (
    "delivered over|baseline|n|p50|p95|p99|max|share p50|share svc p50|base n|base p50|base p95"
)


def pair_row(p: Pair) -> list[str]:
    api, base = p.api, p.base
    latencies = [fmt(api.p(50)), fmt(api.p(95)), fmt(api.p(50, service=True), 3)]
    return [p.operation, p.baseline, fmt(api.ops, 0), *latencies, fmt(base.ops, 0),
            fmt(base.p(50)), fmt(base.p(95)), pct(p.ratio)]  # fmt: skip


def scale_row(s: Scale) -> list[str]:
    api, base = s.api, s.base
    service = [fmt(api.p(50, service=True)), fmt(api.p(95, service=True))]
    return [f"{s.rows:,}", s.shape, str(len(api.latencies_ms)), fmt(api.p(50)), fmt(api.p(95)),
            *service, fmt(base.p(50)), fmt(base.p(95))]  # fmt: skip


def growth_rows(bench: Bench) -> tuple[list[str], list[list[str]]]:
    """Per shape: p50 at each table size, then p50 / p95 at the largest over the smallest size
    beside log(largest rows) / log(smallest rows) and the rows ratio itself."""
    sizes = sorted({s.rows for s in bench.scale})
    if len(sizes) < 2:
        return [], []
    first, last = sizes[0], sizes[-1]
    by = {(s.rows, s.shape): s for s in bench.scale}
    log_ratio = math.log(last) / math.log(first)
    span = f"{rows_label(last)}/{rows_label(first)}"
    headers = ["shape", *(f"API p50 {rows_label(n)}" for n in sizes),
               f"API p50 {span}", f"API p95 {span}", f"svc p50 {span}", f"raw p50 {span}",
               "log ratio", "rows ratio"]  # fmt: skip

    def ratio(a: float | None, b: float | None) -> str:
        return fmt(a / b) if a is not None and b else "-"

    rows = []
    for shape in SHAPES:
        if (first, shape) not in by or (last, shape) not in by:
            continue
        lo, hi = by[first, shape], by[last, shape]
        rows.append([
            shape, *(fmt(by[n, shape].api.p(50)) if (n, shape) in by else "-" for n in sizes),
            ratio(hi.api.p(50), lo.api.p(50)), ratio(hi.api.p(95), lo.api.p(95)),
            ratio(hi.api.p(50, service=True), lo.api.p(50, service=True)),
            ratio(hi.base.p(50), lo.base.p(50)), fmt(log_ratio), f"{last / first:g}",
        ])  # fmt: skip
    return headers, rows


def growth(bench: Bench) -> list[str]:
    headers, rows = growth_rows(bench)
    if not rows:
        return []
    return [
        "\ngrowth of uncached query latency with table size (no worse than logarithmic: the p50 "
        "ratio stays at or under the log ratio log(rows large)/log(rows small); linear growth "
        "would follow the rows ratio):\n",
        table(headers, rows, left=1),
    ]


def peer_row(p: Pair) -> list[str]:
    api, peer = p.api, p.base
    a95, b95 = api.p(95), peer.p(95)
    return [p.operation, api.name.partition(": ")[2], fmt(api.ops, 0), fmt(api.p(50)),
            fmt(a95), f"AsyncPostgresStore.{p.baseline}", fmt(peer.ops, 0), fmt(peer.p(50)),
            fmt(b95), fmt(p.ratio), fmt(a95 / b95 if a95 and b95 else None)]  # fmt: skip


def peer_section(bench: Bench, args: argparse.Namespace) -> list[str]:
    if not bench.peer:
        return []
    items = next((s.rows for s in bench.scale), 0)
    return [
        f"\npeer: LangGraph AsyncPostgresStore (langgraph-checkpoint-postgres), same PostgreSQL "
        f"server, own database, concurrency {args.concurrency} (Brain rows: the runs above):\n",
        table(PEER_HEADERS.split("|"), [peer_row(p) for p in bench.peer], left=1),
        "  the peer runs in-process: no HTTP, no auth, no JSON response encoding, no cache; its "
        "calls made in the same event-loop tick are batched into one abatch (its documented "
        "behaviour); it shares the load generator's CPU.",
        "  put: namespace ('agents', agent_id), uuid key, the memory's context dict + tags + "
        "importance (+ topic) | Brain: POST /v1/memories (empty tables)",
        f"  search: namespace ('agents', agent_id), filter topic = t and importance $gte x "
        f"(a text comparison in the store), limit 20, newest first, over {items:,} items | "
        "Brain: agent + tag + min_importance, never-repeating (uncached) or repeating (cached)",
    ]


MESSAGING_LEGEND = [
    "messaging baselines (PostgreSQL: the service's own statements, psycopg, a second database):",
    "  share: publish_direct (checks both agents, inserts the message and its delivery: one "
    "statement) | one XADD of the message's JSON (the API appends through a Lua script)",
    "  pending+ack: one op = take 1..10 (random) then acknowledge them; raw: XREADGROUP COUNT "
    "1..10 + XACK on pre-filled streams (one per client)",
    "  broadcast: publish_broadcast (one statement), then one XADD per recipient in one pipeline",
    "  (with --quick the messaging runs last half the time per measurement)",
]


def latency_row(d: Latency) -> list[str]:
    api, base = d.api, d.base
    return [d.path, d.baseline, str(len(api.latencies_ms)), fmt(api.p(50)), fmt(api.p(95)),
            fmt(api.p(99)), fmt(max(api.latencies_ms, default=None)),
            fmt(percentile(d.share_ms, 50)), fmt(api.p(50, service=True), 3),
            str(len(base.latencies_ms)), fmt(base.p(50)), fmt(base.p(95))]  # fmt: skip


def report(bench: Bench, args: argparse.Namespace) -> str:
    out = [
        f"\nBrain benchmark - concurrency {args.concurrency}, {args.workers} service worker(s), "
        f"{args.duration:g} s per measurement, {os.cpu_count()} CPU(s). Latencies in ms; "
        "svc = in-service (Server-Timing); ratio = API ops/s / baseline ops/s.\n",
        table(PAIR_HEADERS.split("|"), [pair_row(p) for p in bench.pairs]),
        f"store, {BATCH} a request: ops/s count memories (POST /v1/memories/batch | the same "
        "insert_batch statement through psycopg); its latencies are per request",
        *(MESSAGING_LEGEND if any(p.operation == "share" for p in bench.pairs) else []),
        "\nuncached query latency by table size (sequential, concurrency 1):\n",
        table(SCALE_HEADERS.split("|"), [scale_row(s) for s in bench.scale]),
        *growth(bench),
        *peer_section(bench, args),
        "\nend-to-end share -> delivery (sequential; from sending POST /v1/messages until the "
        "message arrives; share = the POST alone; baseline: XADD waking a blocked XREADGROUP):\n",
        table(LATENCY_HEADERS.split("|"), [latency_row(d) for d in bench.latency]),
        "\nIn the API runs: CPU (cores busy) of the load generator, the service and the whole "
        "machine; the load generator's keep-alive connections per service worker; cache outcomes.",
        *(
            f"  {r.name:<44} client {r.client_cpu:.2f}  service {fmt(r.service_cpu)}  "
            f"machine {r.machine_cpu:.2f}  conns/worker {'+'.join(map(str, r.connections or []))}  "
            f"cache {dict(r.cache)}"
            for r in api_runs(bench)
            if r.seconds  # not the sequential end-to-end samples
        ),
        *_errors(bench),
        *_targets(bench),
        *(f"note: {n}" for n in bench.notes),
    ]
    return "\n".join(out)


def api_runs(bench: Bench) -> list[Run]:
    """Each API run once (get by id has two baselines)."""
    runs = {id(p.api): p.api for p in bench.pairs}
    runs.update({id(s.api): s.api for s in bench.scale})
    runs.update({id(d.api): d.api for d in bench.latency})
    return list(runs.values())


def all_runs(bench: Bench) -> list[Run]:
    runs = {id(r): r for p in bench.pairs for r in (p.api, p.base)}
    runs.update({id(r): r for s in bench.scale for r in (s.api, s.base)})
    runs.update({id(r): r for d in bench.latency for r in (d.api, d.base)})
    runs.update({id(p.base): p.base for p in bench.peer})
    return list(runs.values())


def _errors(bench: Bench) -> list[str]:
    failed = [r for r in all_runs(bench) if r.errors]
    if not failed:
        return ["\nerrors: none"]
    lines = ["\nerrors:"]
    for run in failed:
        top = ", ".join(f"{k} x{v}" for k, v in run.errors.most_common(3))
        lines.append(f"  {run.name}: {run.error_share:.2%} ({top})")
    return lines


def targets(bench: Bench) -> dict[str, Any]:
    store = next((p for p in bench.pairs if p.operation == "store"), None)
    wide = next((p for p in bench.pairs if p.operation == f"store, c={WIDE}"), None)
    cached = next((p for p in bench.pairs if p.operation == "cached query"), None)
    alone = next((p for p in bench.pairs if p.operation == "cached query, c=1"), None)
    batch = next((p for p in bench.pairs if p.operation == f"store, {BATCH} a request"), None)
    store_ratio = store.ratio if store else None
    cached_p50 = cached.api.p(50, service=True) if cached else None
    return {
        "store_ratio": store_ratio,
        "store_batch_ratio": batch.ratio if batch else None,
        "store_wide_ratio": wide.ratio if wide else None,
        "peer_ratios": {p.operation: p.ratio for p in bench.peer},
        "store_ratio_met": store_ratio is not None and store_ratio >= 0.5,
        "cached_query_in_service_p50_ms": cached_p50,
        "cached_query_in_service_p50_met": cached_p50 is not None and cached_p50 < 1.0,
        "cached_query_in_service_p50_ms_c1": alone.api.p(50, service=True) if alone else None,
    }


def _targets(bench: Bench) -> list[str]:
    t = targets(bench)

    def verdict(met: bool) -> str:
        return "met" if met else "NOT met"

    return [
        "\ntargets:",
        f"  store >= 50% of the raw INSERT rate: {pct(t['store_ratio'])} -> "
        f"{verdict(t['store_ratio_met'])}",
        f"  cached query p50 in the service < 1 ms: "
        f"{fmt(t['cached_query_in_service_p50_ms'], 3)} ms -> "
        f"{verdict(t['cached_query_in_service_p50_met'])} "
        f"(alone, concurrency 1: {fmt(t['cached_query_in_service_p50_ms_c1'], 3)} ms)",
        f"  store, {WIDE} clients at once: {pct(t['store_wide_ratio'])} of the raw INSERT rate at "
        f"the same concurrency -> {verdict((t['store_wide_ratio'] or 0) >= 0.5)}",
        f"  store, {BATCH} a request: {pct(t['store_batch_ratio'])} of the same statement's rate "
        "through psycopg",
        *(
            f"  ahead of the peer on {operation}: {fmt(ratio)}x -> {verdict((ratio or 0) > 1)}"
            for operation, ratio in t["peer_ratios"].items()
        ),
    ]


def results(bench: Bench, args: argparse.Namespace, seconds: float) -> dict[str, Any]:
    pairs = [
        {"operation": p.operation, "baseline": p.baseline, "ratio": p.ratio,
         "api": p.api.summary(), "base": p.base.summary()}
        for p in bench.pairs
    ]  # fmt: skip
    scale = [
        {"rows": s.rows, "shape": s.shape, "api": s.api.summary(), "base": s.base.summary()}
        for s in bench.scale
    ]  # fmt: skip
    headers, rows = growth_rows(bench)
    growth_table = [dict(zip(headers, r, strict=True)) for r in rows]
    peer = [
        {"operation": p.operation, "ops_ratio": p.ratio, "brain": p.api.name,
         "peer": p.base.summary()}
        for p in bench.peer
    ]  # fmt: skip
    latency = [
        {"path": d.path, "baseline": d.baseline, "share_p50_ms": percentile(d.share_ms, 50),
         "api": d.api.summary(), "base": d.base.summary()}
        for d in bench.latency
    ]  # fmt: skip
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "options": vars(args) | {"json": str(args.json)},
        "seconds": round(seconds, 1),
        "pairs": pairs,
        "scale": scale,
        "growth": growth_table,
        "peer": peer,
        "latency": latency,
        "targets": targets(bench),
        "notes": bench.notes,
    }


# -- main -----------------------------------------------------------------------------------------


PARTS = ("memory", "peer", "scale", "messaging")


def parts(value: str) -> tuple[str, ...]:
    chosen = tuple(p.strip() for p in value.split(",") if p.strip())
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"parts are {', '.join(PARTS)}; not {unknown}")
    return chosen


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=0.5, help="uncounted seconds before each")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="service worker processes")
    parser.add_argument("--quick", action="store_true", help="2k/5k/20k rows, not 10k/100k/1M")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated data")
    parser.add_argument(
        "--parts", type=parts, default=PARTS,
        help=f"comma-separated parts to run (default: all of {','.join(PARTS)}; "
        "peer needs memory)",
    )  # fmt: skip
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench-results" / "bench.json",
        help="also write the results here (default: bench-results/bench.json)",
    )  # fmt: skip
    return parser.parse_args(argv)


async def benchmark(
    args: argparse.Namespace, service: Service, db_url: str, redis_url: str
) -> Bench:
    bench = Bench(args, service, db_url, redis_url)
    try:
        await bench.open()
        await bench.everything()
    finally:
        await bench.close()
    return bench


def run_async(coro: Awaitable[Bench]) -> Bench:
    """uvloop when available: less overhead in the load generator, as in the service."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="brain-bench-") as tmp:
        workdir = Path(tmp)
        with servers(workdir) as (postgres, cache):
            service = Service(workdir, postgres.url(), cache.url(), args.workers)
            try:
                print(f"starting the service on {service.url} ({args.workers} workers)", flush=True)
                service.start()
                bench = run_async(benchmark(args, service, postgres.url(), cache.url()))
            except (RuntimeError, aiohttp.ClientError, httpx.HTTPError, psycopg.Error) as exc:
                print(f"bench: {exc}", file=sys.stderr)
                return 1
            finally:
                service.stop()
    elapsed = time.perf_counter() - started
    print(report(bench, args))
    print(f"\ntotal {elapsed:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results(bench, args, elapsed), indent=2) + "\n")
        print(f"results written to {args.json}")
    worst = max((r.error_share for r in api_runs(bench)), default=0.0)
    if worst > MAX_ERROR_SHARE:
        print(f"bench: {worst:.1%} of the requests of an API run failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
