"""Part `memory`: store (one, 32 at once, a batch), get by id, cached and uncached query, each
through the API beside the same work through psycopg or redis-py at the same concurrency."""

from __future__ import annotations

import asyncio
import json
import uuid

from brain.kit import db
from scripts.bench.client import JSON_HEADER
from scripts.bench.context import Bench, Pair
from scripts.bench.data import (
    AGENTS,
    SQL,
    TOPICS,
    WORKSPACE,
    batch_insert_params,
    fake_memory,
    sql_for,
    uncached_body,
)
from scripts.bench.harness import Answer

BATCH = 100  # memories per POST /v1/memories/batch (its limit)
WIDE = 32  # concurrent clients of the second store pair (stores arriving together share INSERTs)


async def run(bench: Bench, small: int) -> None:
    print("store (empty table)", flush=True)
    await store(bench)
    print(f"get / cached query / uncached query ({small} memories)", flush=True)
    await bench.clear()
    ids = await bench.load(small)
    await get(bench, ids)
    await cached_query(bench)
    await uncached_query(bench)


async def store(bench: Bench) -> None:
    memories = [fake_memory(bench.rng) for _ in range(4096)]
    bodies = [m.body() for m in memories]
    params = [m.insert_params() for m in memories]
    counter = iter(range(10**9))

    async def api(worker: int) -> Answer:
        body = bodies[next(counter) % len(bodies)]
        return await bench.clients[worker].post("/v1/memories", content=body, headers=JSON_HEADER)

    async def raw(worker: int) -> None:
        cur = await bench.conns[worker].execute(SQL["insert"], params[next(counter) % 4096])
        await cur.fetchone()

    api_run = await bench.run("store: POST /v1/memories", api, expect=201)
    base_run = await bench.run("store: psycopg INSERT (autocommit)", raw)
    bench.pairs.append(Pair("store", "psycopg INSERT", api_run, base_run))

    # Stores that arrive together share INSERTs in the service (brain.kit.batching): the same
    # pair with WIDE clients at once.
    wide = [bench.client() for _ in range(WIDE)]
    wide_conns = [await bench.connect() for _ in range(WIDE)]
    try:

        async def api_wide(worker: int) -> Answer:
            body = bodies[next(counter) % len(bodies)]
            return await wide[worker].post("/v1/memories", content=body, headers=JSON_HEADER)

        async def raw_wide(worker: int) -> None:
            params_ = params[next(counter) % 4096]
            await (await wide_conns[worker].execute(SQL["insert"], params_)).fetchone()

        name = f"store: POST /v1/memories, c={WIDE}"
        api_run = await bench.run(name, api_wide, expect=201, concurrency=WIDE, clients=wide)
        base_run = await bench.run(f"store: psycopg INSERT, c={WIDE}", raw_wide, concurrency=WIDE)
        bench.pairs.append(Pair(f"store, c={WIDE}", "psycopg INSERT", api_run, base_run))
    finally:
        for each in wide:
            await each.aclose()
        for conn in wide_conns:
            await conn.close()

    # The same memories, BATCH to a request / to one insert_batch statement; rates in items/s.
    batches = [memories[low : low + BATCH] for low in range(0, len(memories), BATCH)]
    batch_bodies = [b'{"items":[' + b",".join(m.body() for m in b) + b"]}" for b in batches]
    batch_params = [batch_insert_params(b) for b in batches]

    async def api_batch(worker: int) -> Answer:
        body = batch_bodies[next(counter) % len(batch_bodies)]
        client = bench.clients[worker]
        return await client.post("/v1/memories/batch", content=body, headers=JSON_HEADER)

    async def raw_batch(worker: int) -> None:
        p = batch_params[next(counter) % len(batch_params)]
        p = {**p, "ids": [uuid.uuid4() for _ in p["ids"]]}  # new ids, as the service makes
        await (await bench.conns[worker].execute(SQL["insert_batch"], p)).fetchall()

    name = f"store batch: POST /v1/memories/batch ({BATCH} per request)"
    api_run = await bench.run(name, api_batch, expect=201, items=BATCH)
    base_run = await bench.run("store batch: psycopg insert_batch", raw_batch, items=BATCH)
    bench.pairs.append(Pair(f"store, {BATCH} a request", "psycopg insert_batch", api_run, base_run))


async def get(bench: Bench, ids: list[str]) -> None:
    chosen = bench.rng.sample(ids, min(1000, len(ids)))
    paths = [f"/v1/memories/{i}" for i in chosen]
    uuids = [uuid.UUID(i) for i in chosen]
    first = await bench.http.get(paths[0])
    first.raise_for_status()
    await warm(bench, paths)
    # The service caches "<token>\n<body>"; the token is a few bytes.
    value = b"x" * (len(first.content) + 4)
    await bench.redis.mset({f"bench:mem:{n}": value for n in range(len(chosen))})
    pick = bench.rng.randrange

    async def api(worker: int) -> Answer:
        return await bench.clients[worker].get(paths[pick(len(paths))])

    async def cached(_: int) -> None:
        await bench.redis.get(f"bench:mem:{pick(len(chosen))}")

    async def raw(worker: int) -> None:
        params = {"workspace": WORKSPACE, "id": uuids[pick(len(uuids))]}
        await (await bench.conns[worker].execute(SQL["get"], params)).fetchone()

    api_run = await bench.run("get: GET /v1/memories/{id}", api)
    redis_run = await bench.run(f"get: redis GET ({len(value)} B)", cached)
    pg_run = await bench.run("get: psycopg SELECT by primary key", raw)
    bench.pairs.append(Pair("get by id", "redis GET", api_run, redis_run))
    bench.pairs.append(Pair("get by id", "psycopg SELECT pk", api_run, pg_run))


async def warm(bench: Bench, paths: list[str]) -> None:
    """Read every path once, spread over the workers' clients, so that the service caches it."""
    step = len(bench.clients)

    async def share(worker: int) -> None:
        for path in paths[worker::step]:
            (await bench.clients[worker].get(path)).raise_for_status()

    await asyncio.gather(*(share(w) for w in range(step)))


async def cached_query(bench: Bench) -> None:
    bodies = [
        {"agent_id": AGENTS[i * 3], "tags": [TOPICS[i % len(TOPICS)]], "limit": 20}
        for i in range(12)
    ]
    sizes = []
    for body in bodies:  # the first read of each fills the cache
        response = await bench.http.post("/v1/memories/query", json=body)
        response.raise_for_status()
        sizes.append(len(response.content))
    value = b"x" * (int(sum(sizes) / len(sizes)) + 4)
    await bench.redis.set("bench:query", value)
    encoded = [json.dumps(b).encode() for b in bodies]
    pick = bench.rng.randrange

    async def api(worker: int) -> Answer:
        body = encoded[pick(len(encoded))]
        client = bench.clients[worker]
        return await client.post("/v1/memories/query", content=body, headers=JSON_HEADER)

    async def raw(_: int) -> None:
        await bench.redis.get("bench:query")

    api_run = await bench.run("cached query: POST /v1/memories/query", api)
    base_run = await bench.run(f"cached query: redis GET ({len(value)} B)", raw)
    bench.pairs.append(Pair("cached query", "redis GET", api_run, base_run))
    # The in-service time at concurrency includes waiting for the worker's event loop; alone:
    alone = {"concurrency": 1, "duration": max(bench.args.duration / 2, 0.5)}
    api_alone = await bench.run("cached query: POST /v1/memories/query, c=1", api, **alone)
    base_alone = await bench.run("cached query: redis GET, c=1", raw, **alone)
    bench.pairs.append(Pair("cached query, c=1", "redis GET, c=1", api_alone, base_alone))
    hit = api_run.share("hit") or 0.0
    if hit < 0.99:
        bench.notes.append(f"cached query: only {hit:.1%} of answers were cache hits")


async def uncached_query(bench: Bench) -> None:
    rng = bench.rng

    async def api(worker: int) -> Answer:
        return await bench.clients[worker].post("/v1/memories/query", json=uncached_body(rng))

    async def raw(worker: int) -> None:
        statement, params = sql_for(uncached_body(rng))
        conn = bench.conns[worker]
        await (await conn.execute(statement, params, prepare=db.PLAN_EACH_CALL)).fetchall()

    api_run = await bench.run("uncached query: POST /v1/memories/query", api)
    base_run = await bench.run("uncached query: psycopg SELECT", raw)
    bench.pairs.append(Pair("uncached query", "psycopg SELECT", api_run, base_run))
    miss = api_run.share("miss") or 0.0
    if miss < 0.99:
        bench.notes.append(f"uncached query: only {miss:.1%} of answers were cache misses")
