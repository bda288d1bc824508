"""G1: a 2xx write is committed; `kill -9` of the service loses no acknowledged write."""

from __future__ import annotations

import asyncio
import time

import httpx
import psycopg
import pytest

from tests.support.api import AUTH, TOKEN
from tests.support.service import Service

WRITERS = 16


async def write_until_killed(url: str, acked: list[str], stop: asyncio.Event) -> int:
    """Concurrent writers; returns how many requests failed (in flight at the kill)."""
    failures = 0
    headers = AUTH
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:

        async def writer(n: int) -> None:
            nonlocal failures
            i = 0
            while not stop.is_set():
                body = {"agent_id": f"w{n}", "context": {"writer": n, "seq": i}}
                try:
                    response = await client.post("/v1/memories", json=body)
                except httpx.HTTPError:
                    failures += 1
                    return
                if response.status_code == 201:
                    acked.append(response.json()["id"])
                i += 1

        await asyncio.gather(*(writer(n) for n in range(WRITERS)))
    return failures


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
async def test_kill_9_during_concurrent_writes_loses_nothing_acknowledged(
    database_url: str,
    redis_url: str,
    tmp_path,
    workers: int,
) -> None:
    env = {
        "BRAIN_DATABASE_URL": database_url,
        "BRAIN_REDIS_URL": redis_url,
        "BRAIN_ADMIN_TOKEN": TOKEN,
    }
    service = Service(env, workers=workers, log=tmp_path / "serve.log").start()
    acked: list[str] = []
    stop = asyncio.Event()
    writing = asyncio.create_task(write_until_killed(service.url, acked, stop))
    deadline = time.monotonic() + 10
    while len(acked) < 200 and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a count
        await asyncio.sleep(0.05)
    await asyncio.to_thread(service.kill)  # in the middle of the writes
    stop.set()
    failures = await writing
    assert len(acked) >= 200
    assert failures > 0  # the kill really interrupted writes in flight

    with psycopg.connect(database_url) as conn:
        stored = {str(r[0]) for r in conn.execute("SELECT id FROM memories").fetchall()}
    assert set(acked) <= stored, f"{len(set(acked) - stored)} acknowledged writes lost"

    restarted = Service(env, workers=workers, log=tmp_path / "serve.log").start()
    try:
        async with httpx.AsyncClient(base_url=restarted.url, headers=AUTH) as client:
            for memory_id in acked[-50:]:
                assert (await client.get(f"/v1/memories/{memory_id}")).status_code == 200
    finally:
        restarted.stop()
