"""G6: Redis down never fails a memory request; PostgreSQL down answers 503 and writes nothing."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from litestar.testing import AsyncTestClient

from brain import app, embedded, migrate
from brain.kit import db
from tests.support.api import AUTH
from tests.support.api import settings as make_settings


async def store(client: AsyncTestClient, note: str) -> dict:
    response = await client.post("/v1/memories", json={"agent_id": "a", "context": {"note": note}})
    assert response.status_code == 201, response.text
    return response.json()


async def query(client: AsyncTestClient) -> tuple[list[str], str]:
    response = await client.post("/v1/memories/query", json={"agent_id": "a"})
    assert response.status_code == 200, response.text
    return [m["id"] for m in response.json()["items"]], response.headers["X-Brain-Cache"]


async def metric(client: AsyncTestClient, line_start: str) -> float:
    text = (await client.get("/metrics")).text
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(line_start)]
    return values[0] if values else 0.0


async def test_redis_killed_then_back(database_url: str, own_redis: embedded.Redis) -> None:
    settings = make_settings(database_url, own_redis.url())
    async with AsyncTestClient(app=app.create_app(settings)) as client:
        client.headers.update(AUTH)
        before = await store(client, "before")
        await query(client)
        assert (await query(client)) == ([before["id"]], "hit")
        await asyncio.sleep(1.5)  # let AOF everysec persist the cache entry and counters
        own_redis.kill()

        during = await store(client, "during the outage")
        assert (await client.get(f"/v1/memories/{during['id']}")).headers[
            "X-Brain-Cache"
        ] == "bypass"
        assert await query(client) == ([during["id"], before["id"]], "bypass")
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json() == {"status": "degraded", "postgres": "up", "redis": "down"}
        stats = (await client.get("/v1/stats")).json()
        assert stats["cache"]["available"] is False
        assert stats["memories"]["total"] == 2
        assert await metric(client, 'brain_cache_requests_total{result="bypass"}') >= 2
        assert await metric(client, 'brain_dependency_up{dependency="redis"}') == 0

        own_redis.start(port=own_redis.port)  # same data: the stale entry is back from the AOF
        deadline = asyncio.get_running_loop().time() + 10
        while (await client.get("/health/ready")).json()["redis"] != "up":
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.2)
        # The write made during the outage is visible: the old cached page was retired.
        ids, outcome = await query(client)
        assert ids == [during["id"], before["id"]]
        assert outcome == "miss"
        assert await query(client) == ([during["id"], before["id"]], "hit")
        assert await metric(client, 'brain_dependency_up{dependency="redis"}') == 1


async def test_redis_absent_at_start(database_url: str) -> None:
    settings = make_settings(database_url, f"redis://127.0.0.1:{embedded.free_port()}/0")
    async with AsyncTestClient(app=app.create_app(settings)) as client:
        client.headers.update(AUTH)
        created = await store(client, "no redis at all")
        assert await query(client) == ([created["id"]], "bypass")
        assert (await client.get("/health/ready")).json()["redis"] == "down"


async def test_postgres_down_answers_503_and_writes_nothing(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> None:
    pg = embedded.Postgres(tmp_path_factory.mktemp("pg-g6"))
    pg.start()
    try:
        migrate.apply(pg.url())
        settings = make_settings(pg.url(), redis_url)
        async with AsyncTestClient(app=app.create_app(settings)) as client:
            client.headers.update(AUTH)
            await store(client, "committed")
            pg.kill()
            response = await client.post("/v1/memories", json={"agent_id": "a", "context": {}})
            assert response.status_code == 503
            assert response.headers["Retry-After"]
            assert response.headers["content-type"].startswith("application/problem+json")
            ready = await client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["status"] == "unavailable"
            assert ready.json()["postgres"].startswith("down")
            pg.start(port=pg.port)
            deadline = asyncio.get_running_loop().time() + 20
            while (await client.get("/health/ready")).status_code != 200:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.2)
            page = await client.post("/v1/memories/query", json={})
            assert [m["context"]["note"] for m in page.json()["items"]] == ["committed"]
    finally:
        pg.stop()


async def test_pool_hands_out_no_connection_a_restart_killed(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The pool's check skips the probe round trip on healthy connections; after PostgreSQL
    restarts, every pooled connection is dead and none of them may reach a request."""
    pg = embedded.Postgres(tmp_path_factory.mktemp("pg-pool"))
    pg.start()
    migrate.apply(pg.url())  # the service's role (kit.db.ROLE) comes with the schema
    pool = db.pool(pg.url(), min_size=4, max_size=4, name="check")
    try:
        await pool.open(wait=True, timeout=30)

        async def hold_all() -> list[int]:
            async with contextlib.AsyncExitStack() as stack:
                conns = [await stack.enter_async_context(pool.connection()) for _ in range(4)]
                pids = []
                for conn in conns:
                    row = await (await conn.execute("SELECT pg_backend_pid() AS pid")).fetchone()
                    pids.append(row["pid"])
                return pids

        before = await hold_all()
        assert sorted(await hold_all()) == sorted(before)  # healthy connections are kept
        pg.kill()
        pg.start(port=pg.port)
        after = await hold_all()  # raises if a dead connection were handed out
        assert not set(after) & set(before)
    finally:
        await pool.close()
        pg.stop()
