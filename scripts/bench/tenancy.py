"""Part `tenancy`: what workspaces cost. A cached query and a store with an agent-bound API key
beside the same with the admin token (a key is looked up in PostgreSQL once per 0.5 s and
process, never per request), and the uncached query's SQL under row-level security beside the
same SQL with it bypassed (a superuser's connection).

Each pair runs alternately, twice per side (A B B A), and keeps each side's better run: the
machine's drift over a minute is larger than the difference measured."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any

from brain.kit import db
from scripts.bench.client import JSON_HEADER, Client
from scripts.bench.context import Bench, Cpu, Pair
from scripts.bench.cpu import QUERY, _joined
from scripts.bench.data import AGENTS, TOPICS, WORKSPACE, fake_memory, sql_for, uncached_body
from scripts.bench.harness import Answer, Run, connections_per_worker, fmt, measure_requests

AGENT = AGENTS[0]
SCOPES = ["memories:read", "memories:write", "messages:read", "messages:write", "agents:read"]
TARGET_KEY = 0.95
TARGET_RLS = 0.9


async def run(bench: Bench) -> None:
    print("tenancy: agent key beside the admin token; row-level security on and off", flush=True)
    made = await bench.http.post(
        f"/v1/workspaces/{WORKSPACE}/keys",
        json={"name": "bench agent", "scopes": SCOPES, "agent_id": AGENT},
    )
    if made.status_code != 201:
        raise RuntimeError(f"could not create a key: {made.status_code} {made.content!r}")
    secret = json.loads(made.content)["secret"]
    keyed = [Client(bench.service.url, secret) for _ in range(bench.args.concurrency)]
    try:
        await cached_query(bench, keyed)
        await store(bench, keyed)
        await cpu(bench, keyed)
    finally:
        for each in keyed:
            await each.aclose()
    await row_level_security(bench)


async def alternate(
    bench: Bench,
    names: tuple[str, str],
    ops: tuple[Callable[[int], Awaitable[Any]], Callable[[int], Awaitable[Any]]],
    clients: tuple[list[Client] | None, list[Client] | None] = (None, None),
    **kw: Any,
) -> tuple[Run, Run]:
    """Each side twice, A B B A; each side's run with the most operations per second."""
    runs: dict[int, list[Run]] = {0: [], 1: []}
    for side in (0, 1, 1, 0):
        chosen = clients[side]
        extra = {} if chosen is None else {"clients": chosen}
        runs[side].append(await bench.run(names[side], ops[side], **extra, **kw))
    best = [max(runs[side], key=lambda r: r.ops) for side in (0, 1)]
    return best[0], best[1]


async def cached_query(bench: Bench, keyed: list[Client]) -> None:
    bodies = [
        json.dumps({"agent_id": AGENTS[i * 3], "tags": [TOPICS[i % len(TOPICS)]], "limit": 20})
        for i in range(12)
    ]
    for body in bodies:  # the first read of each fills the cache
        (await bench.http.post("/v1/memories/query", content=body.encode(), headers=JSON_HEADER))
    encoded = [b.encode() for b in bodies]
    pick = bench.rng.randrange

    def op(clients: list[Client]) -> Callable[[int], Awaitable[Answer]]:
        async def call(worker: int) -> Answer:
            body = encoded[pick(len(encoded))]
            return await clients[worker].post(
                "/v1/memories/query", content=body, headers=JSON_HEADER
            )

        return call

    key_run, admin_run = await alternate(
        bench,
        ("cached query: agent key", "cached query: admin token"),
        (op(keyed), op(bench.clients)),
        (keyed, None),
    )
    bench.pairs.append(Pair("cached query, agent key", "admin token", key_run, admin_run))
    note(
        bench,
        "cached query with an agent key / with the admin token",
        key_run,
        admin_run,
        TARGET_KEY,
    )


async def store(bench: Bench, keyed: list[Client]) -> None:
    # the key acts as this agent only: every store is that agent's, on both sides
    memories = [dataclasses.replace(fake_memory(bench.rng), agent_id=AGENT) for _ in range(2048)]
    bodies = [m.body() for m in memories]
    counter = iter(range(10**9))

    def op(clients: list[Client]) -> Callable[[int], Awaitable[Answer]]:
        async def call(worker: int) -> Answer:
            body = bodies[next(counter) % len(bodies)]
            return await clients[worker].post("/v1/memories", content=body, headers=JSON_HEADER)

        return call

    key_run, admin_run = await alternate(
        bench,
        ("store: agent key", "store: admin token"),
        (op(keyed), op(bench.clients)),
        (keyed, None),
        expect=201,
    )
    bench.pairs.append(Pair("store, agent key", "admin token", key_run, admin_run))
    note(bench, "store with an agent key / with the admin token", key_run, admin_run, TARGET_KEY)


async def cpu(bench: Bench, keyed: list[Client]) -> None:
    """The service's CPU per request, agent key beside admin token: a cached query and a store,
    the same number of requests each side, in turns (key, admin, admin, key). Throughput on a
    shared machine drifts by more than the difference; CPU seconds per request do not."""
    count = {
        "requests": max(bench.args.cpu_requests // 4, 1000),
        "concurrency": bench.args.concurrency,
        "warmup": bench.args.cpu_warmup // 2,
    }
    stores = [
        dataclasses.replace(fake_memory(bench.rng), agent_id=AGENT).body() for _ in range(512)
    ]
    counter = iter(range(10**9))
    service = bench.service
    for request, path, expect in (
        ("cached query", "/v1/memories/query", 200),
        ("store", "/v1/memories", 201),
    ):
        if expect == 200:  # the first answer fills the cache: the measured ones hit it
            await bench.http.post(path, content=QUERY, headers=JSON_HEADER)
        sides = (keyed, bench.clients)
        names = (f"{request}: agent key", f"{request}: admin token")
        totals: list[tuple[Run, float]] = [(Run(names[0]), 0.0), (Run(names[1]), 0.0)]
        for side in (0, 1, 1, 0):
            clients = sides[side]

            async def send(
                worker: int, clients: list[Client] = clients, path: str = path
            ) -> Answer:
                body = QUERY if path.endswith("query") else stores[next(counter) % len(stores)]
                return await clients[worker].post(path, content=body, headers=JSON_HEADER)

            await bench.balance(clients, service.pid, service.port, "/health/live")
            run, seconds = await measure_requests(
                names[side], send, server_pid=service.pid, expect=expect, **count
            )
            run.connections = connections_per_worker(service.pid, service.port)
            us = seconds / len(run.latencies_ms) * 1e6 if run.latencies_ms else None
            print(f"  {run.name:<46} {fmt(us, 0):>6} µs CPU/request  {run.ops:9.1f} ops/s")
            totals[side] = (_joined(totals[side][0], run), totals[side][1] + seconds)
        (key_run, key_cpu), (admin_run, admin_cpu) = totals
        measured = Cpu(
            f"{request}, agent key", "admin token", key_run, admin_run, key_cpu, admin_cpu
        )
        bench.cpu.append(measured)
        key_us, admin_us = measured.us("api"), measured.us("base")
        if key_us and admin_us:
            ratio = admin_us / key_us
            verdict = "met" if ratio >= TARGET_KEY else "NOT met"
            bench.notes.append(
                f"{request}, CPU per request: admin token {admin_us:.0f} µs / agent key "
                f"{key_us:.0f} µs = {ratio:.3f} (target >= {TARGET_KEY}: {verdict})"
            )


async def row_level_security(bench: Bench) -> None:
    """The uncached query's statements, as the service's role under RLS and as a superuser."""
    covered = []
    for _ in range(bench.args.concurrency):
        conn = await bench.connect()
        await conn.execute(f"SET ROLE {db.ROLE}")
        await conn.execute("SELECT set_config(%s, %s, false)", (db.WORKSPACE_SETTING, WORKSPACE))
        covered.append(conn)
    rng = bench.rng
    try:

        def op(conns: list[Any]) -> Callable[[int], Awaitable[None]]:
            async def call(worker: int) -> None:
                statement, params = sql_for(uncached_body(rng))
                cur = await conns[worker].execute(statement, params, prepare=db.PLAN_EACH_CALL)
                await cur.fetchall()

            return call

        on, off = await alternate(
            bench,
            ("uncached query SQL: RLS on (brain_service)", "uncached query SQL: RLS off"),
            (op(covered), op(bench.conns)),
        )
    finally:
        for conn in covered:
            await conn.close()
    bench.pairs.append(Pair("uncached query SQL, RLS on", "RLS off (superuser)", on, off))
    note(bench, "uncached query SQL under RLS / without", on, off, TARGET_RLS)


def note(bench: Bench, what: str, api: Run, base: Run, target: float) -> None:
    ratio = api.ops / base.ops if base.ops else 0.0
    verdict = "met" if ratio >= target else "NOT met"
    bench.notes.append(f"{what}: ratio {ratio:.3f} (target >= {target}: {verdict})")
