"""G7 against real `brain serve` processes: a revoked key stops working on every replica within
a second, and an event stream of workspace A never carries B's messages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import AUTH, service_env
from tests.support.service import Service
from tests.support.tenancy import bearer, key, workspace


@pytest.fixture
async def replicas(
    database_url: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Two service processes over the same PostgreSQL and Redis, as two replicas."""
    env = service_env(database_url, redis_url)
    services = [Service(env, log=tmp_path / f"serve-{n}.log").start() for n in range(2)]
    clients = [httpx.AsyncClient(base_url=s.url, timeout=30) for s in services]
    try:
        yield clients
    finally:
        for client in clients:
            await client.aclose()
        for service in services:
            assert service.stop() == 0


@pytest.mark.slow
async def test_a_revoked_key_stops_working_on_every_replica_within_a_second(
    replicas: list[httpx.AsyncClient],
) -> None:
    first, second = replicas
    await workspace(first, "acme")
    made = await key(first, "acme")
    for client in replicas:  # both replicas have it cached now
        assert (await client.get("/v1/agents", headers=bearer(made))).status_code == 200
    revoked = await first.delete(f"/v1/workspaces/acme/keys/{made['id']}", headers=AUTH)
    assert revoked.status_code == 204
    at = time.monotonic()
    assert (await first.get("/v1/agents", headers=bearer(made))).status_code == 401  # at once
    while (await second.get("/v1/agents", headers=bearer(made))).status_code == 200:
        assert time.monotonic() - at < 1.0, "the other replica still takes the revoked key"
        await asyncio.sleep(0.02)
    assert time.monotonic() - at < 1.0
    # and a workspace deleted on one replica is gone from the other within the same second
    other = await key(first, "acme")
    assert (await second.get("/v1/agents", headers=bearer(other))).status_code == 200
    deleted = await first.delete("/v1/workspaces/acme?confirm=acme", headers=AUTH)
    assert deleted.status_code == 204
    assert (await second.get("/v1/agents", headers=bearer(other))).status_code == 401


@pytest.mark.slow
async def test_an_event_stream_of_a_never_carries_b(replicas: list[httpx.AsyncClient]) -> None:
    client = replicas[0]
    for name in ("wa", "wb"):
        await workspace(client, name)
    b = {**AUTH, "X-Brain-Workspace": "wb"}
    mark = "zqxB-secret"
    for agent in ("inbox", "peer"):
        assert (await client.put(f"/v1/agents/{agent}", json={}, headers=b)).status_code == 201
    sent = []
    for n in range(2):
        body = {"from_agent": "peer", "to_agent": "inbox", "context": {"s": f"{mark} {n}"}}
        sent.append((await client.post("/v1/messages", json=body, headers=b)).json()["id"])
    a_key = bearer(await key(client, "wa"))
    received = b""
    url = "/v1/agents/inbox/messages/stream"  # the same agent name, in A
    async with client.stream("GET", url, headers={**a_key, "Last-Event-ID": sent[0]}) as response:
        assert response.status_code == 200
        try:
            async with asyncio.timeout(2):
                async for chunk in response.aiter_bytes():
                    received += chunk
        except TimeoutError:
            pass
    assert mark.encode() not in received and sent[1].encode() not in received
    # B's messages are still B's, undelivered
    taken = await client.get("/v1/agents/inbox/messages?limit=10", headers=b)
    assert [m["id"] for m in taken.json()["items"]] == sent
