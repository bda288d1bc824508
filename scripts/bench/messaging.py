"""Part `messaging`, with ten registered agents: share, pending + ack and broadcast through the
API, each beside the service's own statements through psycopg (in a second database, which the
service's outbox relay does not scan) and beside the raw Redis stream commands; then the
end-to-end delivery latencies (`delivery`)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import psycopg

from brain import migrate
from scripts.bench import delivery
from scripts.bench.client import JSON_HEADER
from scripts.bench.context import CLEAR, Bench, Pair
from scripts.bench.data import (
    MSG_SQL,
    PEERS,
    PENDING,
    RECIPIENTS,
    SESSION_SETUP,
    WORKSPACE,
    ack_body,
    fake_memory,
    message_params,
    share_body,
    stream_fields,
)
from scripts.bench.harness import Answer, server_ms

BASELINE_DB = "brain_bench_baseline"
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


async def run(bench: Bench) -> None:
    print(f"messaging ({len(PEERS)} registered agents)", flush=True)
    await open_baseline(bench)
    await reset(bench)
    await share(bench)
    await reset(bench)
    await pending_ack(bench)
    await reset(bench)
    await broadcast(bench)
    await reset(bench)
    await delivery.run(bench)


async def open_baseline(bench: Bench) -> None:
    """A second database with the same schema and agents, for the messaging INSERT baselines:
    the service's relay scans its own database's outbox only."""
    await bench.conns[0].execute(f"CREATE DATABASE {BASELINE_DB}")
    url = psycopg.conninfo.make_conninfo(bench.db_url, dbname=BASELINE_DB)
    await asyncio.to_thread(migrate.apply, url)
    for _ in range(bench.args.concurrency):
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        await conn.execute(SESSION_SETUP)
        bench.base_conns.append(conn)
    await bench.base_conns[0].execute(
        "INSERT INTO agents (workspace, id) SELECT %s, unnest(%s::text[])", (WORKSPACE, PEERS)
    )


async def reset(bench: Bench) -> None:
    """Empty the tables, clear through the service (which deletes the registered agents'
    streams), drop the baselines' keys, register the peers again."""
    await bench.conns[0].execute(
        "TRUNCATE messages, message_deliveries, memories, idempotency_keys"
    )
    (await bench.http.post("/v1/admin/clear", json=CLEAR)).raise_for_status()
    for conn in bench.base_conns[:1]:
        await conn.execute("TRUNCATE messages, message_deliveries")
    async for key in bench.redis.scan_iter(match="bench:*", count=1000):
        await bench.redis.unlink(key)
    for agent in PEERS:
        (await bench.http.put(f"/v1/agents/{agent}", json={})).raise_for_status()


async def drain_outbox(bench: Bench, limit_s: float) -> tuple[int, int, float]:
    """Wait until no delivery is left in the outbox (`enqueued = false`) or `limit_s` passes;
    (the backlog at first, the backlog at last, the seconds waited)."""
    started, first = time.perf_counter(), None
    while True:
        cur = await bench.conns[0].execute(MSG_SQL["outbox_backlog"])
        backlog = int((await cur.fetchone() or [0])[0])
        first = backlog if first is None else first
        took = time.perf_counter() - started
        if backlog == 0 or took > limit_s:
            return first, backlog, took
        await asyncio.sleep(0.1)


async def settle(bench: Bench, after: str) -> None:
    """Wait for the relay, so that its work after one run does not land in the next."""
    first, left, took = await drain_outbox(bench, 120)
    if left:
        bench.notes.append(f"{after}: the outbox still held {left} after {took:.0f} s")
    elif first:
        print(f"  outbox after {after}: {first} rows; the relay emptied it in {took:.1f} s")
        bench.notes.append(
            f"{after}: {first} deliveries were still outbox rows (enqueued = false) when the "
            f"run ended; the relay took {took:.1f} s more to mark them appended"
        )


def contexts(bench: Bench, count: int) -> list[str]:
    return [fake_memory(bench.rng).context for _ in range(count)]


async def share(bench: Bench) -> None:
    texts = contexts(bench, 4096)
    sender, rng = PEERS[-1], bench.rng
    picks = [(rng.choice(RECIPIENTS), c) for c in texts]
    bodies = [share_body(sender, to, c) for to, c in picks]
    params = [message_params(sender, to, c) for to, c in picks]
    counter = iter(range(10**9))
    first = await bench.http.post("/v1/messages", content=bodies[0], headers=JSON_HEADER)
    first.raise_for_status()
    message = first.content  # the body the service appends to the stream

    async def api(worker: int) -> Answer:
        body = bodies[next(counter) % len(bodies)]
        client = bench.clients[worker]
        return await client.post("/v1/messages", content=body, headers=JSON_HEADER)

    async def raw_sql(worker: int) -> None:
        p = params[next(counter) % len(params)]
        conn = bench.base_conns[worker]
        row = await (await conn.execute(MSG_SQL["publish_direct"], p)).fetchone()
        assert row is not None and row[2] is not None

    async def raw_xadd(worker: int) -> None:
        key = f"bench:share:{RECIPIENTS[worker % len(RECIPIENTS)]}"
        await bench.redis.xadd(key, stream_fields(str(uuid.uuid4()), message))

    api_run = await bench.run("share: POST /v1/messages", api, expect=201, **bench.msg)
    await settle(bench, "share: POST /v1/messages")
    sql_run = await bench.run("share: psycopg publish_direct", raw_sql, **bench.msg)
    xadd_run = await bench.run(f"share: redis XADD ({len(message)} B)", raw_xadd, **bench.msg)
    bench.pairs.append(Pair("share", "psycopg publish statement", api_run, sql_run))
    bench.pairs.append(Pair("share", "redis XADD", api_run, xadd_run))


async def preload(bench: Bench, count: int) -> None:
    """Commit `count` direct messages to the recipients in bulk and let the relay append
    them to their streams."""
    started = time.perf_counter()
    texts = contexts(bench, min(count, 4096))
    to = [RECIPIENTS[i % len(RECIPIENTS)] for i in range(count)]
    for low in range(0, count, 10_000):
        high = min(low + 10_000, count)
        await bench.conns[0].execute(
            PRELOAD_SQL,
            {
                "workspace": WORKSPACE, "from_agent": PEERS[-1], "to_agents": to[low:high],
                "contexts": [texts[i % len(texts)] for i in range(low, high)],
            },
        )  # fmt: skip
    await bench.conns[0].execute("ANALYZE messages, message_deliveries")
    committed = time.perf_counter() - started
    _, left, took = await drain_outbox(bench, 180)
    if left:
        bench.notes.append(f"the relay had not appended {left} preloaded messages in {took} s")
    print(f"  preloaded {count} messages in {committed:.1f} s, relayed in {took:.1f} s")


async def pending_ack(bench: Bench) -> None:
    # Enough that neither side runs dry: measured rates stay well under 1000 round trips
    # of 5.5 messages on average (API) and 7000 (redis-py) per second on this kind of machine.
    seconds = bench.msg["duration"] + bench.args.warmup
    await preload(bench, int(5500 * seconds))
    rng = bench.rng
    empty: Counter[str] = Counter()

    async def api(worker: int) -> Answer:
        agent = RECIPIENTS[worker % len(RECIPIENTS)]
        client = bench.clients[worker]
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

    api_run = await bench.run("pending+ack: GET pending, POST ack", api, **bench.msg)
    await settle(bench, "pending+ack")

    message = (await bench.http.get(f"/v1/agents/{RECIPIENTS[0]}/messages?limit=1")).content
    body = message[len(b'{"items":[') : -2]
    streams = [f"bench:pending:{w}" for w in range(bench.args.concurrency)]
    per_stream = int(7000 * 5.5 * seconds / max(bench.args.concurrency, 2))
    started = time.perf_counter()
    for key in streams:
        await bench.redis.xgroup_create(key, "g", id="0", mkstream=True)
        for low in range(0, per_stream, 2000):
            pipe = bench.redis.pipeline(transaction=False)
            for _ in range(min(2000, per_stream - low)):
                pipe.xadd(key, stream_fields(str(uuid.uuid4()), body))
            await pipe.execute()
    took = time.perf_counter() - started
    print(f"  filled {len(streams)} streams with {per_stream} entries each in {took:.1f} s")

    async def raw(worker: int) -> None:
        key = streams[worker]
        got = await bench.redis.xreadgroup("g", f"c{worker}", {key: ">"}, count=rng.randint(1, 10))
        if not got or not got[0][1]:
            empty["redis-py"] += 1
            return
        await bench.redis.xack(key, "g", *(entry[0] for entry in got[0][1]))

    base_run = await bench.run("pending+ack: redis XREADGROUP + XACK", raw, **bench.msg)
    bench.pairs.append(Pair("pending+ack", "XREADGROUP+XACK", api_run, base_run))
    await bench.redis.unlink(*streams)
    for side, times in empty.items():
        bench.notes.append(f"pending+ack ({side}): {times} round trips found nothing to take")


async def broadcast(bench: Bench) -> None:
    texts = contexts(bench, 4096)
    rng = bench.rng
    picks = [(rng.choice(PEERS), c) for c in texts]
    bodies = [share_body(sender, None, c) for sender, c in picks]
    params = [message_params(sender, None, c) for sender, c in picks]
    counter = iter(range(10**9))
    others = len(PEERS) - 1

    async def api(worker: int) -> Answer:
        body = bodies[next(counter) % len(bodies)]
        client = bench.clients[worker]
        return await client.post("/v1/messages/broadcast", content=body, headers=JSON_HEADER)

    async def raw(worker: int) -> None:
        p = params[next(counter) % len(params)]
        conn = bench.base_conns[worker]
        row = await (await conn.execute(MSG_SQL["publish_broadcast"], p)).fetchone()
        assert row is not None and row[2] is not None
        recipients = row[6]
        fields = stream_fields(str(row[2]), row[5].encode())
        pipe = bench.redis.pipeline(transaction=False)
        for agent in recipients:
            pipe.xadd(f"bench:broadcast:{agent}", fields)
        await pipe.execute()

    name = f"broadcast: POST /v1/messages/broadcast ({others})"
    api_run = await bench.run(name, api, expect=201, **bench.msg)
    await settle(bench, "broadcast")
    base_run = await bench.run(f"broadcast: psycopg tx + {others} XADD pipelined", raw, **bench.msg)
    baseline = f"tx 1+{others} rows, {others} XADD pipe"
    bench.pairs.append(Pair(f"broadcast to {others}", baseline, api_run, base_run))
