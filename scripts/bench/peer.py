"""Part `peer`: LangGraph's `AsyncPostgresStore` (langgraph-checkpoint-postgres, in-process, no
HTTP) doing the equivalent put and filtered search in a database of its own on the same server,
beside the API's store, uncached and cached query runs of part `memory`."""

from __future__ import annotations

import time
import uuid

import psycopg

from scripts.bench.context import Bench, Pair
from scripts.bench.data import AGENTS, fake_memory, peer_filter, peer_value, uncached_body
from scripts.bench.memory import BATCH

PEER_DB = "brain_bench_peer"


async def run(bench: Bench, rows: int) -> None:
    """put and filtered search through `AsyncPostgresStore` (in-process) in its own database,
    at the API runs' concurrency; beside the API's store, uncached and cached query runs."""
    print(f"peer: LangGraph AsyncPostgresStore ({rows} items to search)", flush=True)
    try:
        from langgraph.store.base import PutOp
        from langgraph.store.postgres.aio import AsyncPostgresStore
    except ImportError:
        bench.notes.append("peer skipped: langgraph-checkpoint-postgres is not installed")
        return
    await bench.conns[0].execute(f"CREATE DATABASE {PEER_DB}")
    url = psycopg.conninfo.make_conninfo(bench.db_url, dbname=PEER_DB)
    size = bench.args.concurrency
    pool = {"min_size": size, "max_size": size}
    rng = bench.rng
    async with AsyncPostgresStore.from_conn_string(url, pool_config=pool) as store:
        await store.setup()
        values = [peer_value(fake_memory(rng)) for _ in range(4096)]
        counter = iter(range(10**9))

        async def put(_: int) -> None:
            value = values[next(counter) % len(values)]
            await store.aput(("agents", rng.choice(AGENTS)), str(uuid.uuid4()), value)

        put_run = await bench.run("peer: AsyncPostgresStore.aput", put)
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

        search_run = await bench.run("peer: AsyncPostgresStore.asearch", search)
    await bench.conns[0].execute(f"DROP DATABASE {PEER_DB}")
    api = {p.operation: p.api for p in bench.pairs}
    bench.peer += [
        Pair("put / store", "aput", api["store"], put_run),
        Pair("put / store, items/s", "aput", api[f"store, {BATCH} a request"], put_run),
        Pair("filtered search, uncached", "asearch", api["uncached query"], search_run),
        Pair("filtered search, cached", "asearch", api["cached query"], search_run),
    ]
    if found:
        bench.notes.append(
            f"peer asearch: {sum(found) / len(found):.1f} items per answer on average (limit 20)"
        )
