"""The Redis write-through cache: hits, exact invalidation, O(1) writes, Cluster-safe keys."""

from __future__ import annotations

import asyncio

import pytest
import redis
from litestar.testing import AsyncTestClient

from brain.kit import cache, keys, redis_client
from brain.settings import Settings


async def post_query(client: AsyncTestClient, body: dict) -> tuple[list[str], str]:
    response = await client.post("/v1/memories/query", json=body)
    assert response.status_code == 200, response.text
    return [m["id"] for m in response.json()["items"]], response.headers["X-Brain-Cache"]


async def store(client: AsyncTestClient, agent: str, **extra: object) -> str:
    response = await client.post("/v1/memories", json={"agent_id": agent, "context": {}, **extra})
    assert response.status_code == 201
    return response.json()["id"]


async def test_second_query_is_a_hit(client: AsyncTestClient) -> None:
    first = await store(client, "a")
    assert await post_query(client, {"agent_id": "a"}) == ([first], "miss")
    assert await post_query(client, {"agent_id": "a"}) == ([first], "hit")
    # A different page of the same query is another entry.
    assert (await post_query(client, {"agent_id": "a", "limit": 5}))[1] == "miss"


async def test_every_write_retires_what_it_changes(client: AsyncTestClient) -> None:
    one = await store(client, "a", tags=["t"])
    for body in ({"agent_id": "a"}, {"tags": ["t"]}, {}):
        await post_query(client, body)
        assert (await post_query(client, body))[1] == "hit"
    two = await store(client, "a", tags=["t"])
    assert await post_query(client, {"agent_id": "a"}) == ([two, one], "miss")
    assert await post_query(client, {"tags": ["t"]}) == ([two, one], "miss")
    assert await post_query(client, {}) == ([two, one], "miss")
    assert (await client.delete(f"/v1/memories/{two}")).status_code == 204
    assert await post_query(client, {"agent_id": "a"}) == ([one], "miss")
    assert await post_query(client, {}) == ([one], "miss")


async def test_a_write_keeps_other_agents_entries(client: AsyncTestClient) -> None:
    b = await store(client, "b")
    await post_query(client, {"agent_id": "b"})
    await store(client, "a")
    assert await post_query(client, {"agent_id": "b"}) == ([b], "hit")
    assert (await post_query(client, {}))[1] == "miss"  # all agents: changed


async def test_single_memory_cache(client: AsyncTestClient) -> None:
    memory_id = await store(client, "a")
    read = await client.get(f"/v1/memories/{memory_id}")
    assert read.headers["X-Brain-Cache"] == "hit"  # written through on store
    assert (await client.delete(f"/v1/memories/{memory_id}")).status_code == 204
    assert (await client.get(f"/v1/memories/{memory_id}")).status_code == 404


async def test_clear_retires_everything(client: AsyncTestClient) -> None:
    memory_id = await store(client, "a")
    await post_query(client, {})
    await client.get(f"/v1/memories/{memory_id}")
    response = await client.post("/v1/admin/clear", json={"confirm": "delete all data"})
    assert response.status_code == 204
    assert await post_query(client, {}) == ([], "miss")
    assert (await client.get(f"/v1/memories/{memory_id}")).status_code == 404


async def test_writes_do_not_scan_keys(client: AsyncTestClient, redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as r:
        r.config_resetstat()
        for i in range(20):
            mid = await store(client, f"agent{i % 3}", tags=["x"])
            await post_query(client, {"tags": ["x"]})
            await client.delete(f"/v1/memories/{mid}")
        stats = r.info("commandstats")
    used = {name.removeprefix("cmdstat_") for name in stats}
    assert not used & {"keys", "scan", "hscan", "sscan", "zscan", "flushdb", "flushall"}, used
    assert "hincrby" in used


async def test_stats_count_hits_and_misses(client: AsyncTestClient) -> None:
    await store(client, "a")
    await post_query(client, {})
    await post_query(client, {})
    await post_query(client, {})
    stats = (await client.get("/v1/stats")).json()
    assert stats["cache"] == {"available": True, "hits": 2, "misses": 1, "hit_rate": 0.6667}
    assert stats["agents"] == 0
    assert stats["memories"] == {
        "total": 1, "by_agent": {"a": 1}, "by_embedding_space": {"none": 1},
        "waiting_for_embedding": 0, "embedding_space": None,
    }  # fmt: skip


def test_keys_are_cluster_safe_and_prefixed() -> None:
    from redis.crc import key_slot

    gens = keys.generations("default").encode()
    stats = keys.cache_stats("default").encode()
    assert key_slot(gens) == key_slot(stats)  # used side by side in one pipeline
    entries = {key_slot(keys.query("default", f"d{i}").encode()) for i in range(50)}
    assert len(entries) > 10  # cache entries spread over the cluster
    for key in (
        gens,
        stats,
        keys.memory("default", "x").encode(),
        keys.query("default", "y").encode(),
    ):
        assert key.startswith(b"brain:v1:")


async def test_more_concurrent_calls_than_connections_wait_for_one(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load, calls beyond the pool's connections queue for one: an exhausted pool is not
    a Redis outage (no bypass, no cache epoch bump)."""
    monkeypatch.setattr(redis_client, "MAX_CONNECTIONS", 2)
    client = redis_client.connect(settings)
    try:
        memo = cache.Cache(client, 60)
        await memo.start("w")
        epoch = await client.hget(keys.generations("w"), "epoch")
        lookups = await asyncio.gather(*(memo.get_query("w", f"d{i}", None) for i in range(150)))
        assert {lookup.outcome for lookup in lookups} == {"miss"}
        assert await client.hget(keys.generations("w"), "epoch") == epoch
    finally:
        await client.aclose()
