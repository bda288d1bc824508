"""G4: an expired memory is never returned, from the database or from the cache."""

from __future__ import annotations

import asyncio
import datetime as dt

import psycopg
import redis
from litestar.testing import AsyncTestClient

from brain.kit import keys


async def test_expired_memory_disappears_everywhere_before_cleanup(
    client: AsyncTestClient, db_conn: psycopg.Connection, redis_url: str
) -> None:
    keep = (
        await client.post("/v1/memories", json={"agent_id": "a", "context": {"k": "keep"}})
    ).json()
    brief = (await client.post(
        "/v1/memories", json={"agent_id": "a", "context": {"k": "brief"}, "ttl_seconds": 1}
    )).json()  # fmt: skip
    body = {"agent_id": "a"}
    for _ in range(2):
        page = await client.post("/v1/memories/query", json=body)
    assert page.headers["X-Brain-Cache"] == "hit"
    assert [m["id"] for m in page.json()["items"]] == [brief["id"], keep["id"]]
    got = await client.get(f"/v1/memories/{brief['id']}")
    assert got.status_code == 200
    assert got.headers["X-Brain-Cache"] == "hit"
    with redis.Redis.from_url(redis_url) as r:  # cache entries die with the first expiry they hold
        assert 0 < r.pttl(keys.memory("default", brief["id"])) <= 1000

    expires = dt.datetime.fromisoformat(brief["expires_at"])
    await asyncio.sleep(max(0.0, (expires - dt.datetime.now(dt.UTC)).total_seconds()) + 0.05)

    page = await client.post("/v1/memories/query", json=body)
    assert [m["id"] for m in page.json()["items"]] == [keep["id"]]
    assert (await client.get(f"/v1/memories/{brief['id']}")).status_code == 404
    assert (await client.delete(f"/v1/memories/{brief['id']}")).status_code == 404
    history = (await client.get("/v1/agents/a/memories")).json()
    assert [m["id"] for m in history["items"]] == [keep["id"]]
    stats = (await client.get("/v1/stats")).json()
    assert stats["memories"]["total"] == 1
    # Still in the table until cleanup runs: the filters, not the cleanup, make expiry exact.
    assert db_conn.execute("SELECT count(*) FROM memories").fetchone() == (2,)

    cleaned = (await client.post("/v1/admin/cleanup")).json()
    assert cleaned == {"expired_memories_deleted": 1, "messages_trimmed": 0, "messages_pruned": 0}
    assert db_conn.execute("SELECT count(*) FROM memories").fetchone() == (1,)
    assert (await client.post("/v1/admin/cleanup")).json()["expired_memories_deleted"] == 0


async def test_expires_at_in_the_past_is_rejected(client: AsyncTestClient) -> None:
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()
    response = await client.post(
        "/v1/memories", json={"agent_id": "a", "context": {}, "expires_at": past}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "expires_at"
