"""Part `vectors`: recall and latency of search by meaning at 10k, 100k and 1M vectors, store
throughput with and without vectors, and LangGraph's `AsyncPostgresStore` on the same vectors.

The vectors: 384 dimensions (all-MiniLM-L6-v2's), a seeded Gaussian mixture on the unit sphere,
not uniform noise. Uniform random vectors in 384-d are all nearly orthogonal to each other: no
point has near neighbours, and an ANN index is measured on a problem that real embeddings never
pose. Here `CENTRES` random unit centres carry Zipf-like weights (the largest topic holds 6.7 %
of the rows, the smallest 0.14 %); a point is its centre plus Gaussian noise of radius 0.6-1.1
(the centre's) whose variance falls off as 1/i over the dimensions, in an order of its own for
each centre, so that each topic varies along its own few directions (about 26 effective
dimensions: a low intrinsic dimension, as embeddings have); then it is L2-normalised. Nearest
neighbours come out at cosine 0.6-0.85, unrelated pairs around 0 (+-0.09), much as with a
sentence model. Queries are drawn from the same mixture, never stored points. Blocks of `BLOCK`
rows are generated from (seed, block number) alone, so every scale holds the rows of the smaller
ones, Brain and the peer get the same rows, and a run with the same --seed the same data.

Filters: each row draws tag "p50" with probability 1/2, "p10" 1/10 and "p1" 1/100, independently
of each other and of its vector (so a filter keeps that share of every topic). Exact k-NN ground
truth: numpy brute force (cosine, float32, the values PostgreSQL holds) over the rows the filter
keeps, kept block by block while loading. recall@10 = |returned ids & exact top 10| / 10, averaged
over `QUERIES` queries per cell; a cell also counts the queries that returned fewer rows than
min(10, rows matching) ("short").

Brain: a service of its own with BRAIN_EMBEDDINGS=none and BRAIN_EMBEDDINGS_DIMENSIONS=384 (the
space "client/384"; vectors come from the client). Rows are COPYed (binary) straight into
`memories`, without the space's HNSW index, which is then built with the statement `brain migrate`
runs (kit.embeddings.index_statement) and ANALYZEd: growing a scale drops it and builds it again
over all rows (a bulk build, not 900k inserts into a live graph). Queries go through
POST /v1/memories/query one at a time (`vector`, `limit` 10, `tags` for the filter; hybrid adds
`text`, two words); each carries a `min_score` of -1 plus a never-repeating tiny amount, which
filters nothing but makes every body new, so no answer comes from the cache.

A diagnostic beside it: the same semantic statement through psycopg, as the service's role, at
hnsw.ef_search 40 (pgvector's default), 100 (the service's, kit.db.HNSW_EF_SEARCH) and 200, with
its recall.

Store throughput: POST /v1/memories and /v1/memories/batch (100 a request) at the bench's
concurrency, on an empty table with the space's HNSW index (emptied before each run), for the
services in turn: client vectors (`embedding` sent, BRAIN_EMBEDDINGS=none + dimension 384), no
vector at all, and local embeddings (BRAIN_EMBEDDINGS=local: the in-process model embeds each
context), as shipped and with OPENBLAS_NUM_THREADS=1; their batches go one per worker at a time
(100 texts for the model take seconds).

The peer: `AsyncPostgresStore` (langgraph-checkpoint-postgres) in a database of its own on the
same server, index {"dims": 384, "embed": <a function answering the same precomputed vectors>,
"fields": ["text"], HNSW m=16 ef_construction=64 (pgvector's defaults, as Brain's index)}, cosine.
Its `text` field is "v:<row>", which the embed function maps to that row's vector (queries:
"q:<n>"). put ops/s (`aput`, and `abatch` of 100 PutOps) on an empty store; the bulk load goes
through `abatch` (1000 PutOps a call) with its HNSW index dropped, which is then built again with
its own definition (CONCURRENTLY, as its migration and Brain's). Search:
`asearch(("docs",), query=..., filter={"p10": True}, limit=10)` (its filter compares a value's
field). It runs in-process (no HTTP) and as shipped: it does not set hnsw.iterative_scan, so its
index scan stops after hnsw.ef_search (40) candidates, filtered or not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import random
import struct
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import aiohttp
import msgspec
import numpy as np
import psycopg
from tests.support.service import Service

from brain.kit import db, embeddings, minilm
from brain.memory import repository
from brain.memory.schemas import QueryIn
from brain.memory.service import QueryPlan
from scripts.bench import client as bench_client
from scripts.bench.client import JSON_HEADER, Client
from scripts.bench.context import Bench, brain_service
from scripts.bench.data import CURSORS, VOCAB, WORKSPACE, fake_memory, rows_label
from scripts.bench.harness import Answer, Op, Run, connections_per_worker, fmt, measure

DIMS = 384
CENTRES = 256
BLOCK = 10_000
"""Rows generated together, from (seed, block number) alone."""
QUERIES = 100
"""Queries per cell (one scale, one filter, one kind)."""
WARM = 20
"""Uncounted queries (others, from the same mixture) after each load."""
K = 10
SCALES = (10_000, 100_000, 1_000_000)
QUICK_SCALES = (10_000, 100_000)
FILTERS: dict[str, tuple[str | None, float]] = {
    "all": (None, 1.0),
    "50%": ("p50", 0.5),
    "10%": ("p10", 0.1),
    "1%": ("p1", 0.01),
}
"""Filter label -> (the tag it asks for, the share of rows that carry it)."""
KINDS = ("semantic", "hybrid")
CONCURRENT = 4
"""Clients of the throughput run of each scale (the latency cells are sequential)."""
THROUGHPUT_FILTER = "10%"
SPACE = embeddings.space("client", DIMS)
EMBEDDER = embeddings.ClientVectors("client", DIMS)  # the client service's (QueryPlan)
EF_SEARCH = (40, 100, 200, 0)
"""hnsw.ef_search of the diagnostic sweep through psycopg (40: pgvector's default; the service
runs kit.db.HNSW_EF_SEARCH); 0: no index scans at all (`enable_indexscan = off`), the exact
plan by the tag filter's bitmap scan, whatever the planner would choose."""


def _ef_label(ef: int) -> str:
    return f"ef {ef}" if ef else "no index"


LOCAL_SPACE = embeddings.space(minilm.NAME, minilm.DIMENSIONS)
MAINTENANCE = "SET maintenance_work_mem = '4GB'; SET max_parallel_maintenance_workers = 1"
"""For the HNSW builds (Brain's and the peer's): the graph of 1M 384-d vectors takes 2-2.5 GB
in memory (a vector of 1.5 kB and its neighbour lists); should it outgrow this, pgvector goes on
building on disk, much slower, and says so (its NOTICE is kept as a note)."""
LOCAL = {"local model": {}, "local model, 1 BLAS thread": {"OPENBLAS_NUM_THREADS": "1"}}
"""The local model's services: as shipped (OpenBLAS starts a thread per core in each worker),
and with one BLAS thread per worker process."""
PEER_DB = "brain_bench_vectors_peer"
PEER_INDEX = "store_vectors_embedding_idx"
PEER_LOAD_BATCH = 1_000
STORE_BATCH = 100
TARGET_RECALL = 0.95
TARGET_P95_MS = 20.0
TARGET_ROWS = 1_000_000
COPY_SQL = (
    "COPY memories (workspace, id, agent_id, context, tags, importance, created_at, embedding, "
    "embedding_space) FROM STDIN (FORMAT BINARY)"
)


def scales(value: str) -> tuple[int, ...]:
    """--vector-scales: comma-separated row counts, ascending (e.g. 10000,100000,1000000)."""
    try:
        chosen = tuple(sorted({int(v.strip().replace("_", "")) for v in value.split(",") if v}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not row counts: {value!r}") from None
    if not chosen or chosen[0] < 100:
        raise argparse.ArgumentTypeError("row counts of at least 100, comma-separated")
    return chosen


def chosen_scales(args: argparse.Namespace) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(Brain's scales, the peer's): --vector-scales, else 10k,100k,1M (--quick: 10k,100k);
    --vector-peer-scales, else the same."""
    brain = args.vector_scales or (QUICK_SCALES if args.quick else SCALES)
    return brain, args.vector_peer_scales or brain


# -- the data ----------------------------------------------------------------------------------


class Mixture:
    """The seeded clustered vectors (see the module's docstring), generated by block."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        rng = np.random.default_rng([seed, 0])
        centres = rng.standard_normal((CENTRES, DIMS))
        self.centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
        weights = np.arange(1, CENTRES + 1) ** -0.7
        self.weights = weights / weights.sum()
        falloff = 1 / np.sqrt(np.arange(1, DIMS + 1))
        falloff /= np.linalg.norm(falloff)  # noise of radius ~1 before `spread`
        self.shape = np.stack([falloff[rng.permutation(DIMS)] for _ in range(CENTRES)])
        self.spread = rng.uniform(0.6, 1.1, CENTRES)

    def _sample(self, rng: np.random.Generator, count: int) -> np.ndarray:
        k = rng.choice(CENTRES, count, p=self.weights)
        noise = rng.standard_normal((count, DIMS))
        x = self.centres[k] + self.spread[k, None] * self.shape[k] * noise
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x.astype(np.float32)

    def block(self, number: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Block `number`'s vectors and, per filter tag, which of its rows carry it."""
        rng = np.random.default_rng([self.seed, 1, number])
        vectors = self._sample(rng, BLOCK)
        tags = {tag: rng.random(BLOCK) < share for tag, share in FILTERS.values() if tag}
        return vectors, tags

    def queries(self, count: int) -> np.ndarray:
        return self._sample(np.random.default_rng([self.seed, 2]), count)

    def rows(
        self, start: int, stop: int
    ) -> Iterator[tuple[int, np.ndarray, dict[str, np.ndarray]]]:
        """Rows [start, stop) as (first row number, vectors, tags) pieces of at most a block."""
        for number in range(start // BLOCK, -(-stop // BLOCK)):
            low, high = max(start, number * BLOCK), min(stop, (number + 1) * BLOCK)
            vectors, tags = self.block(number)
            cut = slice(low - number * BLOCK, high - number * BLOCK)
            yield low, vectors[cut], {t: m[cut] for t, m in tags.items()}

    def context_rng(self, row: int) -> random.Random:
        """The generator of the contexts (agent, text, tags) of the block holding `row`."""
        return random.Random(self.seed * 1_000_003 + row // BLOCK)


class Exact:
    """Exact top-K (cosine) of each query over the rows seen so far, per filter."""

    def __init__(self, queries: np.ndarray) -> None:
        self.queries = queries
        n = len(queries)
        self.scores = {f: np.full((n, K), -np.inf, np.float32) for f in FILTERS}
        self.ids = {f: np.full((n, K), -1, np.int64) for f in FILTERS}
        self.matching = dict.fromkeys(FILTERS, 0)

    def add(self, first: int, vectors: np.ndarray, tags: dict[str, np.ndarray]) -> None:
        sims = self.queries @ vectors.T  # (queries, rows), float32
        ids = np.arange(first, first + len(vectors))
        for label, (tag, _) in FILTERS.items():
            keep = slice(None) if tag is None else tags[tag]
            s, i = sims[:, keep], ids[keep]
            self.matching[label] += len(i)
            if not len(i):
                continue
            top = np.argpartition(-s, min(K, s.shape[1]) - 1, axis=1)[:, :K]
            both_s = np.concatenate([self.scores[label], np.take_along_axis(s, top, 1)], 1)
            both_i = np.concatenate([self.ids[label], i[top]], 1)
            best = np.argsort(-both_s, axis=1, kind="stable")[:, :K]
            self.scores[label] = np.take_along_axis(both_s, best, 1)
            self.ids[label] = np.take_along_axis(both_i, best, 1)

    def snapshot(self) -> dict[str, tuple[list[set[int]], int]]:
        """Per filter: each query's exact top-K ids (the rows there are), the rows matching."""
        return {
            f: ([set(row[row >= 0].tolist()) for row in self.ids[f]], self.matching[f])
            for f in FILTERS
        }


def row_id(row: int) -> uuid.UUID:
    return uuid.UUID(int=(0xB0 << 120) | row)


def row_of(memory_id: str | uuid.UUID) -> int:
    found = memory_id if isinstance(memory_id, uuid.UUID) else uuid.UUID(memory_id)
    return found.int & ((1 << 120) - 1)


def row_tags(base: list[str], tags: dict[str, np.ndarray], n: int) -> list[str]:
    return [*base, *(t for t, carried in tags.items() if carried[n])]


# -- binary COPY ---------------------------------------------------------------------------------

_PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TEXT_OID = 25
_VECTOR_HEAD = struct.pack(">HH", DIMS, 0)  # pgvector's binary form: dimensions, unused, floats


def _field(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data


def _text_array(items: Sequence[str]) -> bytes:
    encoded = [t.encode() for t in items]
    head = struct.pack(">iiiii", 1, 0, _TEXT_OID, len(encoded), 1)
    return head + b"".join(struct.pack(">i", len(e)) + e for e in encoded)


def copy_rows(
    mixture: Mixture, first: int, vectors: np.ndarray, tags: dict[str, np.ndarray], now: float
) -> bytes:
    """PostgreSQL's binary COPY form of rows [first, first + len(vectors)) of `memories`."""
    rng = mixture.context_rng(first)
    big_endian = vectors.astype(">f4")
    workspace, space = _field(WORKSPACE.encode()), _field(SPACE.encode())
    out = []
    for n in range(len(vectors)):
        m = fake_memory(rng)
        micros = int((now - rng.random() * 30 * 86400 - _PG_EPOCH.timestamp()) * 1e6)
        row = (
            b"\x00\x09", workspace, _field(row_id(first + n).bytes),
            _field(m.agent_id.encode()), _field(b"\x01" + m.context.encode()),
            _field(_text_array(row_tags(m.tags, tags, n))),
            _field(struct.pack(">d", m.importance)), _field(struct.pack(">q", micros)),
            _field(_VECTOR_HEAD + big_endian[n].tobytes()), space,
        )  # fmt: skip
        out.append(b"".join(row))
    return b"".join(out)


# -- the results ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Cell:
    """`QUERIES` sequential searches of one kind under one filter at one scale, on one side."""

    side: str  # "brain" or "peer"
    rows: int
    kind: str  # "semantic" or "hybrid"
    filter: str
    matching: int  # rows the filter keeps
    run: Run
    recall: float | None  # semantic only
    returned: list[int]
    plan: str | None = None  # Brain: how PostgreSQL plans the first query (EXPLAIN)

    @property
    def short(self) -> int:
        """Queries that returned fewer rows than min(K, matching)."""
        return sum(1 for r in self.returned if r < min(K, self.matching))


@dataclasses.dataclass
class Throughput:
    side: str
    rows: int
    run: Run


@dataclasses.dataclass
class Sweep:
    """The service's semantic statement through psycopg at one hnsw.ef_search."""

    rows: int
    ef_search: int
    filter: str
    recall: float | None
    run: Run
    plan: str


@dataclasses.dataclass
class Load:
    side: str
    rows: int
    added: int
    load_s: float
    index_s: float
    analyze_s: float


@dataclasses.dataclass
class Store:
    """A store throughput run: `vectors` is "local model", "client vectors" or "no vector"; the
    peer's runs are "peer"."""

    vectors: str
    request: str
    concurrency: int
    run: Run


@dataclasses.dataclass
class Results:
    scales: tuple[int, ...]
    peer_scales: tuple[int, ...]
    stores: list[Store] = dataclasses.field(default_factory=list)
    cells: list[Cell] = dataclasses.field(default_factory=list)
    throughput: list[Throughput] = dataclasses.field(default_factory=list)
    sweeps: list[Sweep] = dataclasses.field(default_factory=list)
    loads: list[Load] = dataclasses.field(default_factory=list)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)  # "brain 100k": wall s
    notes: list[str] = dataclasses.field(default_factory=list)


_RESULTS: weakref.WeakKeyDictionary[Bench, Results] = weakref.WeakKeyDictionary()


def of(bench: Bench) -> Results | None:
    return _RESULTS.get(bench)


def runs(bench: Bench) -> list[Run]:
    """The part's API runs (their error shares count towards the bench's exit status)."""
    found = of(bench)
    if found is None:
        return []
    brain = [c.run for c in found.cells if c.side == "brain"]
    brain += [t.run for t in found.throughput if t.side == "brain"]
    return brain + [s.run for s in found.stores if s.vectors != "peer"]


# -- running -------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serving(bench: Bench, name: str, env: dict[str, str]) -> AsyncIterator[Service]:
    """A `brain serve` of this part's (its embeddings settings), sharing the bench's servers,
    token and worker count."""
    workdir = bench.workdir / name
    workdir.mkdir(exist_ok=True)
    args = bench.args
    service = brain_service(workdir, bench.db_url, bench.redis_url, args.workers, args.service_from)
    for key in [k for k in service.env if k.startswith("BRAIN_EMBEDDINGS")]:
        del service.env[key]
    service.env.update(env, BRAIN_ADMIN_TOKEN=bench.token)
    print(f"  starting a service with {' '.join(f'{k}={v}' for k, v in env.items())}", flush=True)
    try:
        await asyncio.to_thread(service.start, 90)
        yield service
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(service.stop, 15)


async def api_run(
    bench: Bench, service: Service, clients: list[Client], name: str, op: Op, **kw: Any
) -> Run:
    """`Bench.run` against one of this part's services."""
    if not await bench_client.balance(clients, service.pid, service.port, "/health/live"):
        bench.notes.append(f"{name}: could not spread the connections evenly over the workers")
    kw.setdefault("concurrency", len(clients))
    kw.setdefault("duration", bench.args.duration)
    kw.setdefault("warmup", bench.args.warmup)
    run = await measure(name, op, service_pid=service.pid, **kw)
    run.connections = connections_per_worker(service.pid, service.port)
    _progress(run)
    return run


def _progress(run: Run) -> None:
    unit = "items/s" if run.items > 1 else "ops/s"
    print(
        f"  {run.name:<50} {run.ops:9.1f} {unit}  p50 {fmt(run.p(50))} ms  p95 {fmt(run.p(95))} ms",
        flush=True,
    )


async def run(bench: Bench) -> None:
    brain_scales, peer_scales = chosen_scales(bench.args)
    results = Results(brain_scales, peer_scales)
    _RESULTS[bench] = results
    print(
        f"vectors: {DIMS}-d clustered vectors, recall@{K} and latency at "
        f"{', '.join(rows_label(n) for n in brain_scales)} (peer: "
        f"{', '.join(rows_label(n) for n in peer_scales)}), store throughput",
        flush=True,
    )
    mixture = Mixture(bench.args.seed)
    queries = mixture.queries(QUERIES + WARM)  # the last WARM: for warming up
    async with (
        await psycopg.AsyncConnection.connect(bench.db_url, autocommit=True) as admin,
        _peer_database(bench, admin) as peer_url,
        serving(bench, "vectors-client", client_env()) as service,
    ):
        admin.add_notice_handler(lambda d: _notice(results, d))
        await admin.execute("SET statement_timeout = 0")
        await stores(bench, results, service, mixture, admin)
        truths = await brain(bench, results, service, mixture, queries, admin)
        await bench.clear()  # the peer's turn: Brain's rows no longer take memory
        await peer(bench, results, peer_url, mixture, queries, truths)


def client_env() -> dict[str, str]:
    return {"BRAIN_EMBEDDINGS": "none", "BRAIN_EMBEDDINGS_DIMENSIONS": str(DIMS)}


def _notice(results: Results, diag: psycopg.errors.Diagnostic) -> None:
    """pgvector's notices (an HNSW graph outgrowing maintenance_work_mem) go into the notes."""
    message = diag.message_primary or ""
    if "hnsw" in message.lower() or "maintenance_work_mem" in message:
        print(f"  postgres: {message}", flush=True)
        results.notes.append(f"PostgreSQL said: {message}")


@contextlib.asynccontextmanager
async def _peer_database(bench: Bench, admin: psycopg.AsyncConnection[Any]) -> AsyncIterator[str]:
    await admin.execute(f"DROP DATABASE IF EXISTS {PEER_DB}")
    await admin.execute(f"CREATE DATABASE {PEER_DB}")
    try:
        yield psycopg.conninfo.make_conninfo(bench.db_url, dbname=PEER_DB)
    finally:
        with contextlib.suppress(psycopg.Error):
            await admin.execute(f"DROP DATABASE {PEER_DB} WITH (FORCE)")


async def _build_index(conn: psycopg.AsyncConnection[Any], statement: str, name: str) -> float:
    """Drop index `name` if present, then run `statement` (its definition); seconds taken."""
    await conn.execute(MAINTENANCE)
    await conn.execute(f"DROP INDEX IF EXISTS {name}")
    started = time.perf_counter()
    await conn.execute(statement)
    return time.perf_counter() - started


# -- store throughput ------------------------------------------------------------------------------


def _vector_json(vector: np.ndarray) -> bytes:
    return msgspec.json.encode(vector.tolist())


async def stores(
    bench: Bench,
    results: Results,
    service: Service,
    mixture: Mixture,
    admin: psycopg.AsyncConnection[Any],
) -> None:
    """Stores of one and of 100 memories through the API, each way (LOCAL, client vectors, none),
    on an empty table."""
    print(f"store throughput (concurrency {bench.args.concurrency}, empty table)", flush=True)
    rng = random.Random(bench.args.seed)
    memories = [fake_memory(rng) for _ in range(4096)]
    vectors = mixture.block(10**6)[0][:4096]  # a block no scale reaches
    plain = [m.body() for m in memories]
    with_vector = [
        b[:-1] + b',"embedding":' + _vector_json(v) + b"}"
        for b, v in zip(plain, vectors, strict=True)
    ]
    for space in (SPACE, LOCAL_SPACE):  # as `brain migrate` makes them (empty: instant)
        statement = embeddings.index_statement(space, DIMS)
        assert statement is not None
        await admin.execute(statement)
    clients = [Client(service.url, bench.token) for _ in range(bench.args.concurrency)]
    try:
        for label, bodies in (("client vectors", with_vector), ("no vector", plain)):
            await _stores(bench, results, service, clients, label, bodies)
    finally:
        for each in clients:
            await each.aclose()
    for label, env in LOCAL.items():
        async with serving(bench, "vectors-local", {"BRAIN_EMBEDDINGS": "local", **env}) as local:
            clients = [Client(local.url, bench.token) for _ in range(bench.args.concurrency)]
            try:
                # The model loads on a worker's first store: a longer warm-up. A batch is 100
                # texts for the model, whole seconds: one request per worker at a time.
                kw = {"warmup": max(bench.args.warmup, 5.0), "batch_clients": bench.args.workers}
                await _stores(bench, results, local, clients, label, plain, **kw)
            finally:
                for each in clients:
                    await each.aclose()
    await bench.clear()


async def _stores(
    bench: Bench,
    results: Results,
    service: Service,
    clients: list[Client],
    label: str,
    bodies: list[bytes],
    batch_clients: int | None = None,
    **kw: Any,
) -> None:
    counter = itertools.count()
    batches = [
        b'{"items":[' + b",".join(bodies[low : low + STORE_BATCH]) + b"]}"
        for low in range(0, len(bodies), STORE_BATCH)
    ]

    async def one(worker: int) -> Answer:
        body = bodies[next(counter) % len(bodies)]
        return await clients[worker].post("/v1/memories", content=body, headers=JSON_HEADER)

    async def batch(worker: int) -> Answer:
        body = batches[next(counter) % len(batches)]
        return await clients[worker].post("/v1/memories/batch", content=body, headers=JSON_HEADER)

    await bench.clear()
    name = f"store, {label}: POST /v1/memories"
    run_one = await api_run(bench, service, clients, name, one, expect=201, **kw)
    results.stores.append(Store(label, "POST /v1/memories", len(clients), run_one))
    await bench.clear()
    name = f"store, {label}: POST /v1/memories/batch ({STORE_BATCH})"
    few = clients[: batch_clients or len(clients)]
    run_batch = await api_run(bench, service, few, name, batch, expect=201, items=STORE_BATCH, **kw)
    results.stores.append(
        Store(label, f"POST /v1/memories/batch ({STORE_BATCH})", len(few), run_batch)
    )


# -- Brain: load, index, query ---------------------------------------------------------------------

Truths = dict[int, dict[str, tuple[list[set[int]], int]]]


async def brain(
    bench: Bench,
    results: Results,
    service: Service,
    mixture: Mixture,
    queries: np.ndarray,
    admin: psycopg.AsyncConnection[Any],
) -> Truths:
    """Grow the table to each scale, build the index, measure; the exact answers per scale."""
    await bench.clear()
    exact = Exact(queries[:QUERIES])
    truths: Truths = {}
    loaded = 0
    statement = embeddings.index_statement(SPACE, DIMS)
    assert statement is not None
    direct = await _as_service(bench)
    http = Client(service.url, bench.token)
    many = [Client(service.url, bench.token) for _ in range(CONCURRENT)]
    counter = itertools.count(1)
    words = random.Random(bench.args.seed + 1)
    texts = [" ".join(words.sample(VOCAB, 2)) for _ in range(len(queries))]
    vector_json = [_vector_json(q) for q in queries]

    def body(n: int, label: str, kind: str) -> bytes:
        # A never-repeating min_score that filters nothing: no answer from the cache.
        tag = FILTERS[label][0]
        fields = {"limit": K, "min_score": -1.0 + next(counter) * 1e-12}
        if tag is not None:
            fields["tags"] = [tag]
        if kind == "hybrid":
            fields["text"] = texts[n]
        return b'{"vector":' + vector_json[n] + b"," + msgspec.json.encode(fields)[1:]

    try:
        for size in results.scales:
            started = time.perf_counter()
            print(f"Brain at {rows_label(size)} rows", flush=True)
            t0 = time.perf_counter()
            await admin.execute(f"DROP INDEX IF EXISTS {embeddings.index_name(SPACE)}")
            async with admin.cursor() as cur, cur.copy(COPY_SQL) as copy:
                await copy.write(_COPY_HEADER)
                now = time.time()
                for first, vectors, tags in mixture.rows(loaded, size):
                    exact.add(first, vectors, tags)
                    await copy.write(copy_rows(mixture, first, vectors, tags, now))
                await copy.write(struct.pack(">h", -1))
            load_s = time.perf_counter() - t0
            index_s = await _build_index(admin, statement, embeddings.index_name(SPACE))
            t0 = time.perf_counter()
            await admin.execute("VACUUM ANALYZE memories")
            analyze_s = time.perf_counter() - t0
            results.loads.append(Load("brain", size, size - loaded, load_s, index_s, analyze_s))
            print(
                f"  loaded {size - loaded} rows in {load_s:.1f} s, HNSW index over {size} in "
                f"{index_s:.1f} s, VACUUM ANALYZE {analyze_s:.1f} s",
                flush=True,
            )
            loaded = size
            truths[size] = truth = exact.snapshot()
            await _warm(http, [body(n, "all", "semantic") for n in range(QUERIES, len(queries))])
            for kind in KINDS:
                for label in FILTERS:
                    bodies = [body(n, label, kind) for n in range(QUERIES)]
                    cell = await _brain_cell(http, size, kind, label, bodies, truth[label])
                    cell.plan = await _explain(direct, bodies[0])
                    results.cells.append(cell)
                    _cell_progress(cell)
            await _brain_throughput(bench, results, service, many, size, body)
            await _sweep(direct, results, size, queries, truth)
            results.seconds[f"brain {rows_label(size)}"] = time.perf_counter() - started
    finally:
        await http.aclose()
        for each in many:
            await each.aclose()
        await direct.close()
    return truths


async def _warm(http: Client, bodies: list[bytes]) -> None:
    """Uncounted queries: the index's upper pages into memory. (The first may find the keep-alive
    connection closed by the service while the index was building: it then goes again.)"""
    for n, b in enumerate(bodies):
        try:
            answer = await http.post("/v1/memories/query", content=b, headers=JSON_HEADER)
        except aiohttp.ClientError:
            if n:
                raise
            answer = await http.post("/v1/memories/query", content=b, headers=JSON_HEADER)
        answer.raise_for_status()


async def _brain_cell(
    http: Client,
    size: int,
    kind: str,
    label: str,
    bodies: list[bytes],
    truth: tuple[list[set[int]], int],
) -> Cell:
    exact, matching = truth
    run = Run(f"{rows_label(size)} {kind} {label}: POST /v1/memories/query")
    returned: list[int] = []
    hits: list[float] = []
    started = time.perf_counter()
    for n, b in enumerate(bodies):
        t0 = time.perf_counter()
        try:
            answer = await http.post("/v1/memories/query", content=b, headers=JSON_HEADER)
        except Exception as exc:
            run.errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
            continue
        run.record((time.perf_counter() - t0) * 1000, answer, 200)
        if not answer.is_success:
            continue
        ids = [row_of(item["id"]) for item in answer.json()["items"]]
        returned.append(len(ids))
        if exact[n]:
            hits.append(len(set(ids[:K]) & exact[n]) / min(K, len(exact[n])))
    run.seconds = time.perf_counter() - started
    recall = sum(hits) / len(hits) if hits and kind == "semantic" else None
    return Cell("brain", size, kind, label, matching, run, recall, returned)


def _cell_progress(cell: Cell) -> None:
    recall = "" if cell.recall is None else f"recall@{K} {cell.recall:.3f}  "
    print(
        f"  {cell.side} {rows_label(cell.rows)} {cell.kind:<8} {cell.filter:>3}: {recall}"
        f"p50 {fmt(cell.run.p(50))} ms  p95 {fmt(cell.run.p(95))} ms  "
        f"short {cell.short}/{len(cell.returned)}" + (f"  plan {cell.plan}" if cell.plan else ""),
        flush=True,
    )


async def _brain_throughput(
    bench: Bench,
    results: Results,
    service: Service,
    clients: list[Client],
    size: int,
    body: Callable[[int, str, str], bytes],
) -> None:
    picks = itertools.count()

    async def query(worker: int) -> Answer:
        b = body(next(picks) % QUERIES, THROUGHPUT_FILTER, "semantic")
        return await clients[worker].post("/v1/memories/query", content=b, headers=JSON_HEADER)

    name = f"{rows_label(size)} semantic {THROUGHPUT_FILTER}, c={CONCURRENT}: API"
    run_ = await api_run(bench, service, clients, name, query)
    results.throughput.append(Throughput("brain", size, run_))
    miss = run_.share("miss") or 0.0
    if miss < 0.99:
        results.notes.append(f"{name}: only {miss:.1%} of answers were cache misses")


async def _as_service(bench: Bench) -> psycopg.AsyncConnection[Any]:
    """A connection that runs statements as the service does: its role (row-level security),
    the workspace, hnsw.iterative_scan = strict_order (kit.db)."""
    conn = await psycopg.AsyncConnection.connect(bench.db_url, autocommit=True)
    await conn.execute(
        "SET ROLE brain_service; SET hnsw.iterative_scan = strict_order; "
        f"SELECT set_config('brain.workspace', '{WORKSPACE}', false)"
    )
    return conn


def _plan(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The statement and parameters the service runs for a ranked query body."""
    plan = QueryPlan(msgspec.convert(body, QueryIn), WORKSPACE, CURSORS, EMBEDDER)
    assert plan.kind is not None
    return repository.ranked_sql(plan.kind, DIMS), plan.params


async def _explain(
    conn: psycopg.AsyncConnection[Any], query: bytes | tuple[str, dict[str, Any]]
) -> str:
    """How PostgreSQL plans a query body (or the statement and parameters of one) as the
    service runs it: "hnsw" when the space's index serves it, else "exact", with the scan nodes
    that read `memories`."""
    sql, params = _plan(msgspec.json.decode(query)) if isinstance(query, bytes) else query
    try:
        cur = await conn.execute("EXPLAIN (FORMAT JSON) " + sql, params, prepare=False)
        row = await cur.fetchone()
    except psycopg.Error as exc:
        return f"EXPLAIN failed: {type(exc).__name__}"
    plan = row[0] if row else []
    nodes = ", ".join(sorted(set(_scans(plan))))
    return ("hnsw" if embeddings.index_name(SPACE) in json.dumps(plan) else "exact") + f" ({nodes})"


async def _sweep(
    conn: psycopg.AsyncConnection[Any],
    results: Results,
    size: int,
    queries: np.ndarray,
    truth: dict[str, tuple[list[set[int]], int]],
) -> None:
    """Diagnostic: recall and latency of the service's semantic statement through psycopg (no
    HTTP) at each of EF_SEARCH, every filter."""
    statements = {
        label: [
            _plan({"vector": q.tolist(), "limit": K, **({"tags": [tag]} if tag else {})})
            for q in queries[:QUERIES]
        ]
        for label, (tag, _) in FILTERS.items()
    }
    try:
        for ef in EF_SEARCH:
            if ef:
                await conn.execute(f"SET hnsw.ef_search = {int(ef)}")
            else:
                await conn.execute("RESET hnsw.ef_search; SET enable_indexscan = off")
            for label, planned in statements.items():
                exact = truth[label][0]
                plan = await _explain(conn, planned[0])
                run = Run(f"{rows_label(size)} semantic {label}, {_ef_label(ef)}: psycopg")
                hits = []
                started = time.perf_counter()
                for n, (sql, params) in enumerate(planned):
                    t0 = time.perf_counter()
                    cur = await conn.execute(sql, params, prepare=False)
                    rows = await cur.fetchall()
                    run.record((time.perf_counter() - t0) * 1000, None, 200)
                    ids = [row_of(r[0]) for r in rows[:K]]
                    if exact[n]:
                        hits.append(len(set(ids) & exact[n]) / min(K, len(exact[n])))
                run.seconds = time.perf_counter() - started
                recall = sum(hits) / len(hits) if hits else None
                results.sweeps.append(Sweep(size, ef, label, recall, run, plan))
                print(
                    f"  psycopg {rows_label(size)} {_ef_label(ef):>8} {label:>3}: recall@{K} "
                    f"{fmt(recall, 3)}  p50 {fmt(run.p(50))} ms  p95 {fmt(run.p(95))} ms  "
                    f"plan {plan}",
                    flush=True,
                )
    finally:
        await conn.execute("RESET hnsw.ef_search; RESET enable_indexscan")


def _scans(plan: Any) -> Iterator[str]:
    """The scan nodes of an EXPLAIN (FORMAT JSON) plan that read `memories`."""
    if isinstance(plan, list):
        for each in plan:
            yield from _scans(each)
    elif isinstance(plan, dict):
        if plan.get("Relation Name") == "memories":
            yield str(plan.get("Node Type"))
        for value in plan.values():
            if isinstance(value, list | dict):
                yield from _scans(value)


# -- the peer ------------------------------------------------------------------------------------


class PeerVectors:
    """The peer's embed function: "v:<row>" is that row's vector, "q:<n>" the nth query."""

    def __init__(self, queries: np.ndarray) -> None:
        self.queries = queries
        self.first = 0
        self.block = np.zeros((0, DIMS), np.float32)

    async def __call__(self, texts: Sequence[str]) -> list[list[float]]:
        out = []
        for text in texts:
            kind, _, n = text.partition(":")
            vector = self.queries[int(n)] if kind == "q" else self.block[int(n) - self.first]
            out.append(vector.tolist())
        return out


def _peer_value(m: Any, row: int, tags: list[str]) -> dict[str, Any]:
    value: dict[str, Any] = {
        "text": f"v:{row}",
        "agent_id": m.agent_id,
        "context": json.loads(m.context),
        "tags": tags,
        "importance": m.importance,
    }
    value.update(dict.fromkeys((t for t in tags if t in ("p50", "p10", "p1")), True))
    return value


async def peer(
    bench: Bench,
    results: Results,
    url: str,
    mixture: Mixture,
    queries: np.ndarray,
    truths: Truths,
) -> None:
    try:
        from langgraph.store.base import PutOp
        from langgraph.store.postgres.aio import AsyncPostgresStore
    except ImportError:
        results.notes.append("peer skipped: langgraph-checkpoint-postgres is not installed")
        return
    print("peer: LangGraph AsyncPostgresStore with a vector index", flush=True)
    embed = PeerVectors(queries)
    index = {
        "dims": DIMS, "embed": embed, "fields": ["text"], "distance_type": "cosine",
        "ann_index_config": {"kind": "hnsw", "m": 16, "ef_construction": 64},
    }  # fmt: skip
    size = max(bench.args.concurrency, CONCURRENT)
    pool = {"min_size": size, "max_size": size}
    exact = Exact(queries[:QUERIES])  # for scales Brain did not run (the same rows and truth)
    own_truth = any(n not in truths for n in results.peer_scales)
    async with (
        AsyncPostgresStore.from_conn_string(url, pool_config=pool, index=index) as store,
        await psycopg.AsyncConnection.connect(url, autocommit=True) as conn,
    ):
        await store.setup()
        conn.add_notice_handler(lambda d: _notice(results, d))
        await conn.execute("SET statement_timeout = 0")
        cur = await conn.execute("SELECT pg_get_indexdef(%s::regclass)", (PEER_INDEX,))
        # Built again as its migration builds it: CONCURRENTLY, as Brain's.
        found = (await cur.fetchone() or [""])[0]
        definition = found.replace("CREATE INDEX ", "CREATE INDEX CONCURRENTLY ", 1)
        await _peer_puts(bench, results, store, embed, mixture, PutOp)
        await conn.execute("TRUNCATE store CASCADE")
        loaded = 0
        for rows in results.peer_scales:
            started = time.perf_counter()
            print(f"peer at {rows_label(rows)} items", flush=True)
            await conn.execute(f"DROP INDEX IF EXISTS {PEER_INDEX}")
            t0 = time.perf_counter()
            for first, vectors, tags in mixture.rows(loaded, rows):
                if own_truth:
                    exact.add(first, vectors, tags)
                embed.first, embed.block = first, vectors
                rng = mixture.context_rng(first)
                values = []
                for n in range(len(vectors)):
                    m = fake_memory(rng)
                    rng.random()  # as copy_rows draws the creation time
                    values.append(_peer_value(m, first + n, row_tags(m.tags, tags, n)))
                for low in range(0, len(values), PEER_LOAD_BATCH):
                    ops = [
                        PutOp(("docs",), str(first + low + n), v)
                        for n, v in enumerate(values[low : low + PEER_LOAD_BATCH])
                    ]
                    await store.abatch(ops)
            load_s = time.perf_counter() - t0
            index_s = await _build_index(conn, definition, PEER_INDEX)
            t0 = time.perf_counter()
            await conn.execute("VACUUM ANALYZE store")
            await conn.execute("VACUUM ANALYZE store_vectors")
            analyze_s = time.perf_counter() - t0
            results.loads.append(Load("peer", rows, rows - loaded, load_s, index_s, analyze_s))
            print(
                f"  loaded {rows - loaded} items in {load_s:.1f} s, HNSW index over {rows} in "
                f"{index_s:.1f} s, VACUUM ANALYZE {analyze_s:.1f} s",
                flush=True,
            )
            loaded = rows
            truth = exact.snapshot() if own_truth else truths[rows]
            for n in range(QUERIES, len(queries)):  # warm-up, uncounted
                await store.asearch(("docs",), query=f"q:{n}", limit=K)
            for label, (tag, _) in FILTERS.items():
                cell = await _peer_cell(store, rows, label, tag, truth[label])
                results.cells.append(cell)
                _cell_progress(cell)
            await _peer_throughput(bench, results, store, rows)
            results.seconds[f"peer {rows_label(rows)}"] = time.perf_counter() - started


async def _peer_puts(
    bench: Bench,
    results: Results,
    store: Any,
    embed: PeerVectors,
    mixture: Mixture,
    put_op: Any,
) -> None:
    """aput one item, abatch 100, at the bench's concurrency, on an empty store."""
    rng = random.Random(bench.args.seed)
    embed.first, embed.block = 0, mixture.block(10**6)[0][:4096]  # as Brain's stores
    values = []
    for n in range(4096):
        m = fake_memory(rng)
        values.append(_peer_value(m, n, m.tags))
    counter = itertools.count()

    async def one(_: int) -> None:
        await store.aput(("docs",), str(uuid.uuid4()), values[next(counter) % len(values)])

    async def batch(_: int) -> None:
        low = next(counter) % (len(values) // STORE_BATCH) * STORE_BATCH
        ops = [put_op(("docs",), str(uuid.uuid4()), v) for v in values[low : low + STORE_BATCH]]
        await store.abatch(ops)

    args = bench.args
    kw = {"concurrency": args.concurrency, "duration": args.duration, "warmup": args.warmup}
    put = await measure("peer: AsyncPostgresStore.aput (with its vector)", one, **kw)
    _progress(put)
    results.stores.append(Store("peer", "aput", args.concurrency, put))
    name = f"peer: AsyncPostgresStore.abatch ({STORE_BATCH} PutOps)"
    many = await measure(name, batch, items=STORE_BATCH, **kw)
    _progress(many)
    results.stores.append(Store("peer", f"abatch ({STORE_BATCH})", args.concurrency, many))


async def _peer_cell(
    store: Any, rows: int, label: str, tag: str | None, truth: tuple[list[set[int]], int]
) -> Cell:
    exact, matching = truth
    run = Run(f"peer {rows_label(rows)} semantic {label}: asearch")
    returned: list[int] = []
    hits: list[float] = []
    started = time.perf_counter()
    for n in range(QUERIES):
        t0 = time.perf_counter()
        try:
            items = await store.asearch(
                ("docs",), query=f"q:{n}", filter={tag: True} if tag else None, limit=K
            )
        except Exception as exc:
            run.errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
            continue
        run.record((time.perf_counter() - t0) * 1000, None, 200)
        ids = [int(item.key) for item in items]
        returned.append(len(ids))
        if exact[n]:
            hits.append(len(set(ids) & exact[n]) / min(K, len(exact[n])))
    run.seconds = time.perf_counter() - started
    recall = sum(hits) / len(hits) if hits else None
    return Cell("peer", rows, "semantic", label, matching, run, recall, returned)


async def _peer_throughput(bench: Bench, results: Results, store: Any, rows: int) -> None:
    picks = itertools.count()
    tag = FILTERS[THROUGHPUT_FILTER][0]

    async def search(_: int) -> None:
        q = f"q:{next(picks) % QUERIES}"
        await store.asearch(("docs",), query=q, filter={tag: True}, limit=K)

    name = f"peer {rows_label(rows)} semantic {THROUGHPUT_FILTER}, c={CONCURRENT}: asearch"
    kw = {"duration": bench.args.duration, "warmup": bench.args.warmup}
    run_ = await measure(name, search, concurrency=CONCURRENT, **kw)
    _progress(run_)
    results.throughput.append(Throughput("peer", rows, run_))


# -- the report ----------------------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[str]], left: int) -> str:
    from scripts.bench.report import table

    return table(headers, rows, left)


def _ratio(a: float | None, b: float | None) -> str:
    return fmt(a / b) if a is not None and b else "-"


def _cells(found: Results) -> dict[tuple[str, int, str, str], Cell]:
    return {(c.side, c.rows, c.kind, c.filter): c for c in found.cells}


def section(bench: Bench, args: argparse.Namespace) -> list[str]:
    """The part's tables, targets and notes, for the printed report."""
    found = of(bench)
    if found is None:
        return []
    cells = _cells(found)
    out = [
        f"\nvectors: {DIMS}-d, a seeded {CENTRES}-centre Gaussian mixture on the unit sphere "
        f"(scripts/bench/vectors.py), {QUERIES} queries per cell drawn from it, recall@{K} "
        f"against numpy's exact cosine k-NN over the rows the filter keeps; tags p50/p10/p1 on "
        f"50/10/1 % of rows at random. Brain: BRAIN_EMBEDDINGS=none + dimension {DIMS} (space "
        f"{SPACE}), rows COPYed, the space's HNSW index (m 16, ef_construction 64, "
        f"hnsw.ef_search {db.HNSW_EF_SEARCH}, iterative_scan strict_order) built after each load.",
        *_store_section(found, args),
        *_brain_section(found, cells),
        *_sweep_section(found),
        *_load_section(found),
        *_peer_section(found, cells),
        *_targets(found, cells),
        *_errors(found),
        *(f"note: {n}" for n in found.notes),
    ]
    return out


def _store_section(found: Results, args: argparse.Namespace) -> list[str]:
    if not found.stores:
        return []
    base = {s.request: s.run for s in found.stores if s.vectors == "no vector"}
    rows = [
        [s.vectors, s.request, str(s.concurrency), fmt(s.run.ops, 0), fmt(s.run.p(50)),
         fmt(s.run.p(95)),
         fmt(s.run.p(50, service=True)), _ratio(s.run.ops, base.get(s.request, Run("")).ops)]
        for s in found.stores if s.vectors != "peer"
    ]  # fmt: skip
    return [
        f"\nstore throughput through the API ({args.workers} worker(s), an empty table with the "
        "space's HNSW index; c = concurrent clients; memories/s):\n",
        _table(STORE_HEADERS.split("|"), rows, 2),
        "  local model: BRAIN_EMBEDDINGS=local, all-MiniLM-L6-v2 in the service's processes "
        "embeds each context (58 word pieces on average); 1 BLAS thread: the same with "
        "OPENBLAS_NUM_THREADS=1 in the service's environment; client vectors: `embedding`, 384 "
        "floats, in the body (BRAIN_EMBEDDINGS=none, dimension 384); latencies per request",
    ]


STORE_HEADERS = "vectors|request|c|memories/s|p50|p95|svc p50|vs no vector"
BRAIN_HEADERS = (
    f"rows|filter|matching|recall@{K}|short|sem p50|sem p95|sem svc p50|hyb p50|hyb p95|"
    "hyb short|plan"
)
PEER_HEADERS = (
    "rows|filter|Brain recall|peer recall|Brain p50|Brain p95|peer p50|peer p95|Brain short|"
    "peer short|peer rows/answer|p95 Brain/peer"
)
LOAD_HEADERS = "side|rows|added|load s|HNSW build s|VACUUM ANALYZE s|total s"
PUT_HEADERS = "operation|Brain ops/s|Brain p95|peer ops/s|peer p95|ops/s Brain/peer"
SEARCH_HEADERS = "rows|Brain q/s|Brain p95|peer q/s|peer p95|q/s Brain/peer"


def _brain_section(found: Results, cells: dict[tuple[str, int, str, str], Cell]) -> list[str]:
    rows = []
    for size in found.scales:
        for label in FILTERS:
            s, h = (
                cells.get(("brain", size, "semantic", label)),
                cells.get(("brain", size, "hybrid", label)),
            )
            if s is None:
                continue
            rows.append([
                f"{size:,}", label, f"{s.matching:,}", fmt(s.recall, 3),
                f"{s.short}/{len(s.returned)}", fmt(s.run.p(50)), fmt(s.run.p(95)),
                fmt(s.run.p(50, service=True)), fmt(h.run.p(50) if h else None),
                fmt(h.run.p(95) if h else None), f"{h.short}/{len(h.returned)}" if h else "-",
                s.plan or "-",
            ])  # fmt: skip
    through = [
        [f"{t.rows:,}", fmt(t.run.ops, 0), fmt(t.run.p(50)), fmt(t.run.p(95)),
         fmt(t.run.p(95, service=True))]
        for t in found.throughput if t.side == "brain"
    ]  # fmt: skip
    return [
        f"\nBrain: search by vector through POST /v1/memories/query, sequential (one client), "
        f"limit {K}; semantic = `vector`, hybrid = `vector` + `text` (two words, both in about "
        "0.2 % of rows; fused by RRF); "
        "short = queries answered fewer rows than min(10, matching); plan: of the first "
        "semantic query (EXPLAIN as the service runs it):\n",
        _table(BRAIN_HEADERS.split("|"), rows, 2),
        f"\n  concurrency {CONCURRENT}, semantic, filter {THROUGHPUT_FILTER}:\n",
        _table(["rows", "queries/s", "p50", "p95", "svc p95"], through, 1),
    ]


def _sweep_section(found: Results) -> list[str]:
    if not found.sweeps:
        return []
    by = {(w.rows, w.filter, w.ef_search): w for w in found.sweeps}
    headers = ["rows", "filter"]
    for ef in EF_SEARCH:
        headers += [f"recall {_ef_label(ef)}", f"p50 {_ef_label(ef)}", f"p95 {_ef_label(ef)}"]
    rows = []
    for size in found.scales:
        for label in FILTERS:
            row = [f"{size:,}", label]
            for ef in EF_SEARCH:
                w = by.get((size, label, ef))
                if w is None:
                    row += ["-"] * 3
                    continue
                exact = " exact" if w.plan.startswith("exact") else ""
                row += [fmt(w.recall, 3) + exact, fmt(w.run.p(50)), fmt(w.run.p(95))]
            rows.append(row)
    return [
        "\ndiagnostic: the service's semantic statement through psycopg (its role, workspace and "
        f"strict_order; no HTTP), sequential, at several hnsw.ef_search (the service runs "
        f"{db.HNSW_EF_SEARCH}; 40 is pgvector's default; no index: index scans off, so the "
        "exact plan by the tags' bitmap scan); exact: PostgreSQL planned it without the HNSW "
        "index (pgvector's cost estimate grows with ef_search):\n",
        _table(headers, rows, 2),
    ]


def _load_section(found: Results) -> list[str]:
    rows = [
        [d.side, f"{d.rows:,}", f"{d.added:,}", fmt(d.load_s, 1), fmt(d.index_s, 1),
         fmt(d.analyze_s, 1), fmt(found.seconds.get(f"{d.side} {rows_label(d.rows)}"), 0)]
        for d in found.loads
    ]  # fmt: skip
    return [
        "\nloading (Brain: binary COPY into memories; peer: abatch of 1000 PutOps) and the HNSW "
        "build over all rows, seconds; total = load + build + every query of the scale:\n",
        _table(LOAD_HEADERS.split("|"), rows, 1),
    ]


def _peer_section(found: Results, cells: dict[tuple[str, int, str, str], Cell]) -> list[str]:
    if not any(c.side == "peer" for c in found.cells) and not any(
        s.vectors == "peer" for s in found.stores
    ):
        return []
    rows = []
    for size in found.peer_scales:
        for label in FILTERS:
            b, p = (
                cells.get(("brain", size, "semantic", label)),
                cells.get(("peer", size, "semantic", label)),
            )
            if p is None:
                continue
            mean = sum(p.returned) / len(p.returned) if p.returned else None
            rows.append([
                f"{size:,}", label, fmt(b.recall if b else None, 3), fmt(p.recall, 3),
                fmt(b.run.p(50) if b else None), fmt(b.run.p(95) if b else None),
                fmt(p.run.p(50)), fmt(p.run.p(95)),
                f"{b.short}/{len(b.returned)}" if b else "-", f"{p.short}/{len(p.returned)}",
                fmt(mean, 1), _ratio(b.run.p(95) if b else None, p.run.p(95)),
            ])  # fmt: skip
    put = {s.request: s.run for s in found.stores}
    pairs = [
        ("store one", "POST /v1/memories", "aput"),
        (f"store {STORE_BATCH}", f"POST /v1/memories/batch ({STORE_BATCH})",
         f"abatch ({STORE_BATCH})"),
    ]  # fmt: skip
    brain_vectors = {s.request: s.run for s in found.stores if s.vectors == "client vectors"}
    put_rows = [
        [what, fmt(brain_vectors[a].ops, 0), fmt(brain_vectors[a].p(95)), fmt(put[p].ops, 0),
         fmt(put[p].p(95)), _ratio(brain_vectors[a].ops, put[p].ops)]
        for what, a, p in pairs if a in brain_vectors and p in put
    ]  # fmt: skip
    through = {(t.side, t.rows): t.run for t in found.throughput}
    through_rows = [
        [f"{n:,}", fmt(through[("brain", n)].ops, 0), fmt(through[("brain", n)].p(95)),
         fmt(through[("peer", n)].ops, 0), fmt(through[("peer", n)].p(95)),
         _ratio(through[("brain", n)].ops, through[("peer", n)].ops)]
        for n in found.peer_scales if ("brain", n) in through and ("peer", n) in through
    ]  # fmt: skip
    return [
        "\nBrain (HTTP, client vectors) beside LangGraph AsyncPostgresStore (in-process, same "
        "PostgreSQL server, own database, the same vectors and filters), semantic search, "
        f"limit {K}, sequential:\n",
        _table(PEER_HEADERS.split("|"), rows, 2),
        "\n  put (Brain: client vectors), items/s at the bench's concurrency, empty tables "
        "each with its HNSW index:\n",
        _table(PUT_HEADERS.split("|"), put_rows, 1),
        f"\n  search at concurrency {CONCURRENT}, filter {THROUGHPUT_FILTER}:\n",
        _table(SEARCH_HEADERS.split("|"), through_rows, 1),
        "  the peer's filter is value->'p10' = 'true' on its store table, joined to "
        "store_vectors; its search takes limit*2+1 candidates from the index scan, which stops "
        "after hnsw.ef_search (40) without iterative scans: selective filters leave it short.",
    ]


def targets(found: Results) -> dict[str, Any]:
    cells = _cells(found)
    recall = {
        rows_label(n): {
            f: cells[("brain", n, "semantic", f)].recall
            for f in FILTERS
            if ("brain", n, "semantic", f) in cells
        }
        for n in found.scales
    }
    worst = [r for per in recall.values() for r in per.values() if r is not None]
    largest = max(found.scales) if found.scales else 0
    p95 = {
        kind: max(
            (
                cells[("brain", largest, kind, f)].run.p(95) or 0.0
                for f in FILTERS
                if ("brain", largest, kind, f) in cells
            ),
            default=None,
        )
        for kind in KINDS
    }
    return {
        "recall_at_10": recall,
        "recall_target": TARGET_RECALL,
        "recall_met": bool(worst) and min(worst) >= TARGET_RECALL,
        "p95_rows": largest,
        "p95_target_ms": TARGET_P95_MS,
        "worst_p95_ms": p95,
        "p95_met": {k: v is not None and v < TARGET_P95_MS for k, v in p95.items()},
        "p95_at_target_rows": largest >= TARGET_ROWS,
    }


def _targets(found: Results, cells: dict[tuple[str, int, str, str], Cell]) -> list[str]:
    t = targets(found)

    def verdict(met: bool) -> str:
        return "met" if met else "NOT met"

    lines = ["\nvector targets:"]
    for scale, per in t["recall_at_10"].items():
        shown = ", ".join(f"{f} {fmt(r, 3)}" for f, r in per.items())
        ok = all(r is not None and r >= TARGET_RECALL for r in per.values())
        lines.append(f"  recall@{K} >= {TARGET_RECALL} at {scale}: {shown} -> {verdict(ok)}")
    where = rows_label(t["p95_rows"]) if t["p95_rows"] else "-"
    caveat = "" if t["p95_at_target_rows"] else " (largest scale run; the target is at 1M)"
    for kind, worst in t["worst_p95_ms"].items():
        lines.append(
            f"  {kind} p95 < {TARGET_P95_MS:g} ms at {where}, worst filter: {fmt(worst)} ms -> "
            f"{verdict(t['p95_met'][kind])}{caveat}"
        )
    return lines


def _errors(found: Results) -> list[str]:
    every = [c.run for c in found.cells] + [t.run for t in found.throughput]
    failed = [r for r in every + [s.run for s in found.stores] if r.errors]
    return [
        f"vectors errors: {r.name}: {r.error_share:.2%} "
        f"({', '.join(f'{k} x{v}' for k, v in r.errors.most_common(3))})"
        for r in failed
    ]


def results(bench: Bench) -> dict[str, Any] | None:
    """The part's results for bench.json."""
    found = of(bench)
    if found is None:
        return None
    method = {
        "dimensions": DIMS, "centres": CENTRES, "queries_per_cell": QUERIES, "k": K,
        "filters": {f: share for f, (_, share) in FILTERS.items()}, "space": SPACE,
        "concurrent_clients": CONCURRENT, "throughput_filter": THROUGHPUT_FILTER,
    }  # fmt: skip
    cells = [
        {"side": c.side, "rows": c.rows, "kind": c.kind, "filter": c.filter,
         "matching": c.matching, "recall_at_10": c.recall, "short": c.short,
         "returned_mean": sum(c.returned) / len(c.returned) if c.returned else None,
         "plan": c.plan, "run": c.run.summary()}
        for c in found.cells
    ]  # fmt: skip
    sweeps = [
        {"rows": w.rows, "ef_search": w.ef_search, "filter": w.filter, "recall_at_10": w.recall,
         "plan": w.plan, "run": w.run.summary()}
        for w in found.sweeps
    ]  # fmt: skip
    return {
        "method": method,
        "scales": list(found.scales),
        "peer_scales": list(found.peer_scales),
        "stores": [
            {"vectors": s.vectors, "request": s.request, "run": s.run.summary()}
            for s in found.stores
        ],
        "cells": cells,
        "ef_search_sweep": sweeps,
        "throughput": [
            {"side": t.side, "rows": t.rows, "run": t.run.summary()} for t in found.throughput
        ],
        "loads": [dataclasses.asdict(load) for load in found.loads],
        "seconds": {k: round(v, 1) for k, v in found.seconds.items()},
        "targets": targets(found),
        "notes": found.notes,
    }
