"""Writes hold at most `db.write_slots` of the pool's connections, so that reads go on while every
commit waits (a slow WAL flush, a lock): under load, one-second flush stalls once let the writes
that kept arriving take the whole pool, and cache-missing queries waited with them."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest

from brain import app
from brain.kit import db, errors
from brain.settings import Settings
from tests.support.api import AUTH

SHARES = 12  # more than the test pool's 8 connections


@pytest.mark.parametrize(("size", "slots"), [(1, 1), (2, 1), (4, 3), (8, 6), (16, 12), (64, 48)])
def test_a_quarter_of_the_pool_stays_for_reads(size: int, slots: int) -> None:
    assert db.write_slots(size) == slots


async def waiting_on_locks(conn: psycopg.Connection, at_least: int) -> None:
    for _ in range(200):
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        ).fetchone()
        if row is not None and row[0] >= at_least:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} statements waited on the lock")


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app on this test's event loop, so that requests run concurrently (the test client
    runs one request at a time)."""
    application = app.create_app(settings)
    transport = httpx.ASGITransport(app=application)
    async with (
        application.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://brain", headers=AUTH) as client,
    ):
        yield client


async def test_reads_answer_while_every_write_waits_on_its_commit(
    settings: Settings, db_conn: psycopg.Connection, database_url: str
) -> None:
    async with served(settings) as client:
        await reads_go_on(client, db_conn, database_url, db.write_slots(settings.db_pool_max))


async def reads_go_on(
    client: httpx.AsyncClient, db_conn: psycopg.Connection, database_url: str, slots: int
) -> None:
    assert slots < SHARES
    for agent in ("sales", "research"):
        assert (await client.put(f"/v1/agents/{agent}", json={})).status_code == 201
    word = f"w{uuid.uuid4().hex}"
    stored = await client.post(
        "/v1/memories", json={"agent_id": "sales", "context": {"note": word}, "tags": ["deal"]}
    )
    assert stored.status_code == 201, stored.text
    body = {"from_agent": "sales", "to_agent": "research", "context": {"n": 1}}

    with psycopg.connect(database_url) as locker:
        locker.execute("LOCK TABLE messages IN EXCLUSIVE MODE")  # every share now waits
        posts = [client.post("/v1/messages", json=body) for _ in range(SHARES)]
        shares = [asyncio.create_task(post) for post in posts]
        await waiting_on_locks(db_conn, slots)

        # Neither answer can come from the cache: a new query, and an agent read.
        found = await client.post("/v1/memories/query", json={"text": word})
        assert found.status_code == 200, found.text
        assert found.headers["X-Brain-Cache"] == "miss"
        assert [m["id"] for m in found.json()["items"]] == [stored.json()["id"]]
        agent = await client.get("/v1/agents/sales")
        assert agent.status_code == 200, agent.text
        assert not any(task.done() for task in shares)  # the writes were still waiting
        locker.commit()

    answers = await asyncio.gather(*shares)
    assert [a.status_code for a in answers] == [201] * SHARES


async def write_once(database: db.Database) -> None:
    async with database.connection(workspace="default", write=True) as conn:
        await conn.execute("SELECT 1")


async def test_a_write_waits_for_a_slot_no_longer_than_for_a_connection(
    database_url: str,
) -> None:
    pool = db.pool(database_url, min_size=1, max_size=2, name="slots")
    pool.timeout = 0.3
    await pool.open(wait=True, timeout=30)
    database = db.Database(pool)
    try:
        async with database.connection(workspace="default", write=True):  # the only write slot
            second = asyncio.create_task(write_once(database))
            await asyncio.sleep(0.1)
            assert database.writes_waiting == 1  # the gauge brain_db_pool_connections reports
            with pytest.raises(errors.Unavailable):
                await second
            assert database.writes_waiting == 0
            with pytest.raises(errors.Unavailable):
                async with database.transaction(workspace="default"):
                    pass
            async with database.connection(
                workspace="default"
            ) as conn:  # reads still get the other connection
                assert await (await conn.execute("SELECT 1 AS one")).fetchone() == {"one": 1}
        async with database.transaction(workspace="default") as conn:  # the slot is free again
            await conn.execute("SELECT 1")
    finally:
        await pool.close()
