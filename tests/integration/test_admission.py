"""Admission control in the app: in an overload, past its places a request gets a 503 with
Retry-After and does nothing; health, metrics and long polls still answer; the console's and
/mcp's inner requests take no place of their own.

The app runs on the test client's own event loop (another thread): the test takes the places
itself (`Gate.enter`), and makes the gate see an overload by the measurements it would take of
a delayed loop (`Gate.measured`)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from brain import app
from brain.kit import admission
from brain.kit.admission import OVERLOAD_AFTER, TICK
from tests.support import api

MEMORY = {"agent_id": "sales", "context": {"note": "kept"}}


@pytest.fixture
async def tight(database_url: str, redis_url: str) -> AsyncIterator[AsyncTestClient]:
    """An app with two places and 100 ms of waiting."""
    settings = api.settings(database_url, redis_url, max_in_flight=2, max_queue_ms=100)
    async with AsyncTestClient(app=app.create_app(settings)) as test_client:
        test_client.headers.update(api.AUTH)
        yield test_client


def overloaded(gate: admission.Gate) -> None:
    """The measurements of a loop delayed by 50 ms for longer than OVERLOAD_AFTER, just now."""
    start = time.monotonic() - OVERLOAD_AFTER - 0.1
    for n in range(round((OVERLOAD_AFTER + 0.1) / TICK)):
        gate.measured(start + n * TICK, 0.05)
    assert gate.overloaded


async def take_every_place(gate: admission.Gate) -> int:
    taken = gate.limit
    for _ in range(taken):
        assert await gate.enter() is None
    return taken


async def count(client: AsyncTestClient) -> int:
    page = await client.post("/v1/memories/query", json={"agent_id": "sales", "limit": 100})
    return len(page.json()["items"])


async def test_a_refused_write_did_nothing_and_says_when_to_retry(tight: AsyncTestClient) -> None:
    gate: admission.Gate = tight.app.state.gate
    overloaded(gate)  # its limit down to the floor
    taken = await take_every_place(gate)
    loop = asyncio.get_running_loop()
    started = loop.time()
    refused = await tight.post("/v1/memories", json=MEMORY, headers={"Idempotency-Key": "k1"})
    waited = loop.time() - started
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["status"] == 503 and "capacity" in problem["detail"]
    assert 0.09 <= waited < 1.0  # it waited its 100 ms for a place, no longer

    # Never starved: probes, metrics and a long poll are not counted.
    assert (await tight.get("/health/ready")).status_code == 200
    assert (await tight.get("/health/live")).status_code == 200
    scraped = await tight.get("/metrics")
    assert 'brain_admission_shed_total{reason="waited"} 1.0' in scraped.text
    polled = await tight.get("/v1/agents/sales/messages", params={"wait": "0.2"})
    assert polled.status_code == 200

    for _ in range(taken):
        gate.leave()
    assert await count(tight) == 0  # the refused write stored nothing
    stored = await tight.post("/v1/memories", json=MEMORY, headers={"Idempotency-Key": "k1"})
    assert stored.status_code == 201  # its retry is served, and is the first write of that key
    assert await count(tight) == 1


async def test_the_console_and_mcp_inner_requests_need_no_second_place(
    tight: AsyncTestClient,
) -> None:
    """A console page or an MCP call takes one place; its API requests inside the service take
    none (with every other place taken, they would wait for the request that waits for them)."""
    gate: admission.Gate = tight.app.state.gate
    overloaded(gate)  # nobody may wait long for a place
    taken = await take_every_place(gate)
    gate.leave()  # one place left: each request below takes it in turn
    taken -= 1
    form = await tight.get("/console/login")
    csrf = re.search(r'name="_csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    signed = await tight.post(
        "/console/login", data={"_csrf": csrf.group(1), "token": api.TOKEN},
        headers={"Authorization": ""}, follow_redirects=False,
    )  # fmt: skip
    assert signed.status_code == 303
    agents = await tight.get("/console/agents", headers={"Authorization": ""})
    assert agents.status_code == 200 and 'data-testid="agents"' in agents.text
    answer = await tight.post("/mcp", json={
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "list_agents", "arguments": {}},
    }, headers={"Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2025-11-25"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert '"isError":false' in answer.text.replace(" ", "")
    for _ in range(taken):
        gate.leave()


async def test_off_with_zero(database_url: str, redis_url: str) -> None:
    settings = api.settings(database_url, redis_url, max_in_flight=0)
    async with AsyncTestClient(app=app.create_app(settings)) as test_client:
        assert test_client.app.state.gate is None
        ready = await test_client.get("/health/ready")
        assert ready.status_code == 200
