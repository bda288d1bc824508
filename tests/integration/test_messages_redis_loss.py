"""G2 and G6 for messages: Redis loses everything, or goes away, and nothing is lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis
from litestar.testing import AsyncTestClient
from redis import asyncio as redis_asyncio

from brain import app, embedded
from brain.kit import db
from brain.messaging import repository
from brain.messaging.relay import Relay
from brain.messaging.streams import Streams
from tests.support.api import AUTH
from tests.support.api import settings as make_settings


@pytest.fixture
async def client(database_url: str, own_redis: embedded.Redis) -> AsyncIterator[AsyncTestClient]:
    """The relay is driven by the tests (`relay_round`), not by a background task."""
    settings = make_settings(database_url, own_redis.url(), visibility_timeout_seconds=1)
    application = app.create_app(settings, run_relay=False)
    async with AsyncTestClient(app=application) as test_client:
        test_client.headers.update(AUTH)
        for agent in ("a", "b", "c"):
            await test_client.put(f"/v1/agents/{agent}", json={})
        yield test_client


@pytest.fixture
async def side(
    database_url: str, own_redis: embedded.Redis
) -> AsyncIterator[tuple[db.Database, Relay]]:
    """The database and a relay in the test's own event loop (the app runs in another)."""
    pool = db.pool(database_url, min_size=1, max_size=2, name="test")
    await pool.open(wait=True)
    client = redis_asyncio.Redis.from_url(own_redis.url())
    database = db.Database(pool)
    streams = Streams(client, client, visibility_ms=1000, retention_ms=86_400_000)
    try:
        yield database, Relay(database, streams, "default", 86400)
    finally:
        await client.aclose()
        await pool.close()


async def relay_round(side: tuple[db.Database, Relay]) -> int:
    """One relay round, tried again once after a broken connection, as the relay loop does."""
    try:
        return await side[1].once(grace=0)
    except redis.ConnectionError:
        return await side[1].once(grace=0)


async def share(client: AsyncTestClient, to: str = "b") -> str:
    response = await client.post(
        "/v1/messages", json={"from_agent": "a", "to_agent": to, "context": {}}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def take(client: AsyncTestClient, agent: str = "b", consumer: str = "default") -> list[dict]:
    response = await client.get(
        f"/v1/agents/{agent}/messages", params={"consumer": consumer, "limit": 100}
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_flushall_redelivers_unacknowledged_only(
    client: AsyncTestClient, own_redis: embedded.Redis, side: tuple[db.Database, Relay]
) -> None:
    await relay_round(side)  # marks this Redis as holding the delivery data
    ids = [await share(client) for _ in range(3)]
    taken = await take(client)
    assert [m["id"] for m in taken] == ids
    acked = await client.post("/v1/agents/b/messages/ack", json={"ids": [ids[0]]})
    assert acked.json() == {"acked": 1}

    with redis.Redis.from_url(own_redis.url()) as r:
        r.flushall()
    assert await take(client) == []  # nothing in Redis any more...
    assert await relay_round(side) == 2  # ...until the relay sees the loss
    again = await take(client)
    assert sorted(m["id"] for m in again) == sorted(ids[1:])
    assert all(m["delivery_count"] >= 2 for m in again)  # flagged as a retry
    assert await relay_round(side) == 0  # idempotent: nothing appended twice
    assert await take(client, consumer="other") == []


async def test_an_ack_lost_by_redis_is_still_honoured(
    client: AsyncTestClient, own_redis: embedded.Redis, side: tuple[db.Database, Relay]
) -> None:
    """Acknowledged in PostgreSQL, but Redis never got (or lost) the XACK."""
    message_id = await share(client)
    assert [m["id"] for m in await take(client)] == [message_id]
    await repository.ack(side[0], "default", "b", [message_id])  # PostgreSQL only
    await asyncio.sleep(1.2)  # the lease runs out: Redis would hand it out again
    assert await take(client, consumer="other") == []
    with redis.Redis.from_url(own_redis.url()) as r:  # and it is now acknowledged in Redis
        assert r.xpending("brain:v1:{default/b}:inbox:1", "brain")["pending"] == 0


async def test_redis_down_accepts_into_the_outbox(
    client: AsyncTestClient, own_redis: embedded.Redis, side: tuple[db.Database, Relay]
) -> None:
    await relay_round(side)
    own_redis.kill()
    message_id = await share(client)  # committed: 201 even without Redis
    broadcast = await client.post("/v1/messages/broadcast", json={"from_agent": "a", "context": {}})
    assert broadcast.status_code == 201
    response = await client.get("/v1/agents/b/messages")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.headers["content-type"].startswith("application/problem+json")
    stats = (await client.get("/v1/stats")).json()["messages"]
    assert stats["outbox_backlog"] == 3  # one direct, a broadcast to two agents
    ack = await client.post("/v1/agents/b/messages/ack", json={"ids": [message_id]})
    assert ack.status_code == 200  # recorded in PostgreSQL, where acknowledgements live
    await client.post("/v1/agents/b/messages/ack", json={"ids": []})

    own_redis.start(port=own_redis.port)
    assert await relay_round(side) >= 2
    got_b = [m["id"] for m in await take(client, "b")]
    got_c = [m["id"] for m in await take(client, "c")]
    assert got_b == [broadcast.json()["id"]]  # the acknowledged direct message is not sent
    assert got_c == [broadcast.json()["id"]]
    assert (await client.get("/v1/stats")).json()["messages"]["outbox_backlog"] == 0


async def test_appended_deliveries_leave_the_outbox_without_the_relay(
    client: AsyncTestClient, side: tuple[db.Database, Relay]
) -> None:
    """The share path marks what it appended, so the relay only meets real leftovers."""
    await share(client)
    await client.post("/v1/messages/broadcast", json={"from_agent": "a", "context": {}})
    deadline = asyncio.get_running_loop().time() + 5
    while (await client.get("/v1/stats")).json()["messages"]["outbox_backlog"]:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    assert await relay_round(side) == 0
