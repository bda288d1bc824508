"""Messaging against a real `brain serve`: long polls, SSE, kill -9 of Redis and of the service."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest

from brain import embedded
from tests.support.api import AUTH, TOKEN, repo_root
from tests.support.service import Service


@pytest.fixture
async def service(
    database_url: str, own_redis: embedded.Redis, tmp_path: Path
) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    env = {
        "BRAIN_DATABASE_URL": database_url, "BRAIN_REDIS_URL": own_redis.url(),
        "BRAIN_ADMIN_TOKEN": TOKEN, "BRAIN_VISIBILITY_TIMEOUT_SECONDS": "2",
    }  # fmt: skip
    running = Service(env, log=tmp_path / "serve.log").start()
    async with httpx.AsyncClient(base_url=running.url, headers=AUTH, timeout=30) as client:
        for agent in ("a", "b", "c"):
            await client.put(f"/v1/agents/{agent}", json={})
        yield running, client
    running.stop()


async def share(client: httpx.AsyncClient, n: int = 0, to: str = "b") -> str:
    body = {"from_agent": "a", "to_agent": to, "context": {"n": n}}
    response = await client.post("/v1/messages", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.mark.slow
async def test_long_poll_wakes_up_on_a_message(service: tuple[Service, httpx.AsyncClient]) -> None:
    _, client = service
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = asyncio.create_task(client.get("/v1/agents/b/messages", params={"wait": 20}))
    await asyncio.sleep(0.5)
    sent = await share(client)
    got = (await waiting).json()["items"]
    assert [m["id"] for m in got] == [sent]
    assert loop.time() - started < 10


async def read_events(response: httpx.Response, count: int) -> list[tuple[str, dict]]:
    """(id, data) of the next `count` message events; comments (heartbeats) skipped."""
    events: list[tuple[str, dict]] = []
    event: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue
        if not line:
            if event.get("event") == "message":
                events.append((event["id"], json.loads(event["data"])))
                if len(events) == count:
                    return events
            event = {}
            continue
        name, _, value = line.partition(":")
        event[name] = value.removeprefix(" ")
    return events


@pytest.mark.slow
async def test_sse_delivers_and_resumes(service: tuple[Service, httpx.AsyncClient]) -> None:
    _, client = service
    url = "/v1/agents/b/messages/stream"
    async with client.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        first = asyncio.create_task(read_events(response, 1))
        await asyncio.sleep(0.5)
        sent = await share(client, 1)  # sent after the client connected
        [(event_id, data)] = await asyncio.wait_for(first, 10)
        assert event_id == sent == data["id"]
    # Disconnected. Two more arrive; one is taken by the stream's consumer before we return.
    second = await share(client, 2)
    third = await share(client, 3)
    async with client.stream("GET", url, headers={"Last-Event-ID": event_id}) as response:
        events = await asyncio.wait_for(read_events(response, 2), 10)
    assert [e[0] for e in events] == [second, third]  # not the one already seen
    ack = await client.post("/v1/agents/b/messages/ack", json={"ids": [sent, second, third]})
    assert ack.json() == {"acked": 3}


@pytest.mark.slow
async def test_kill_9_of_redis_while_sharing_loses_no_201(
    service: tuple[Service, httpx.AsyncClient], own_redis: embedded.Redis
) -> None:
    _, client = service
    accepted: list[str] = []

    async def sharer(n: int) -> None:
        for i in range(60):
            try:
                accepted.append(await share(client, n * 1000 + i, to="bc"[n % 2]))
            except (AssertionError, httpx.HTTPError):
                pass  # not a 201: not promised
            await asyncio.sleep(0.005)

    sharers = asyncio.gather(*(sharer(n) for n in range(4)))
    await asyncio.sleep(0.3)
    own_redis.kill()
    await asyncio.sleep(0.5)
    own_redis.start(port=own_redis.port)
    await sharers
    assert len(accepted) > 100

    received: set[str] = set()
    deadline = asyncio.get_running_loop().time() + 30
    while set(accepted) - received and asyncio.get_running_loop().time() < deadline:
        for agent in ("b", "c"):
            response = await client.get(
                f"/v1/agents/{agent}/messages", params={"limit": 100, "wait": 1}
            )
            if response.status_code == 200:
                items = response.json()["items"]
                received |= {m["id"] for m in items}
                if items:
                    await client.post(
                        f"/v1/agents/{agent}/messages/ack", json={"ids": [m["id"] for m in items]}
                    )
    assert not set(accepted) - received, f"{len(set(accepted) - received)} of {len(accepted)} lost"


@pytest.mark.slow
async def test_crash_between_commit_and_append(
    service: tuple[Service, httpx.AsyncClient], database_url: str
) -> None:
    _, client = service
    crash = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(Path(__file__).with_name("crash_after_commit.py")), database_url],
        cwd=repo_root(), capture_output=True, timeout=60,
    )  # fmt: skip
    assert crash.returncode == -9, crash.stderr  # died at the injected crash point
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT id FROM messages WHERE context->>'crash' = 'after commit'"
        ).fetchone()
    assert row is not None  # committed, never appended
    response = await client.get("/v1/agents/b/messages", params={"wait": 10})
    assert [m["id"] for m in response.json()["items"]] == [str(row[0])]  # the relay appended it
