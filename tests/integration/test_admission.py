"""Admission control in the app: past its places a request gets a quick 503 with Retry-After
and does nothing; health, metrics and long polls still answer; an admitted request is served."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from brain import app
from brain.kit import admission
from tests.support import api

MEMORY = {"agent_id": "sales", "context": {"note": "kept"}}


@pytest.fixture
async def tight(database_url: str, redis_url: str) -> AsyncIterator[AsyncTestClient]:
    """An app with one place and 100 ms of waiting."""
    settings = api.settings(database_url, redis_url, max_in_flight=1, max_queue_ms=100)
    async with AsyncTestClient(app=app.create_app(settings)) as test_client:
        test_client.headers.update(api.AUTH)
        yield test_client


async def count(client: AsyncTestClient) -> int:
    page = await client.post("/v1/memories/query", json={"agent_id": "sales", "limit": 100})
    return len(page.json()["items"])


async def test_a_refused_write_did_nothing_and_says_when_to_retry(tight: AsyncTestClient) -> None:
    gate: admission.Gate = tight.app.state.gate
    assert await gate.enter() is None  # the one place, taken
    loop = asyncio.get_running_loop()
    started = loop.time()
    refused = await tight.post("/v1/memories", json=MEMORY, headers={"Idempotency-Key": "k1"})
    waited = loop.time() - started
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["status"] == 503 and "capacity" in problem["detail"]
    assert problem["instance"] == "/v1/memories"
    assert 0.09 <= waited < 2.0  # it waited its 100 ms for a place, no longer

    # Never starved: probes, metrics and a long poll are not counted.
    assert (await tight.get("/health/ready")).status_code == 200
    assert (await tight.get("/health/live")).status_code == 200
    scraped = await tight.get("/metrics")
    assert 'brain_admission_shed_total{reason="waited"} 1.0' in scraped.text
    polled = await tight.get("/v1/agents/sales/messages", params={"wait": "0.2"})
    assert polled.status_code == 200

    gate.leave()
    assert await count(tight) == 0  # the refused write stored nothing
    stored = await tight.post("/v1/memories", json=MEMORY, headers={"Idempotency-Key": "k1"})
    assert stored.status_code == 201  # its retry is served, and is the first write of that key
    assert await count(tight) == 1


async def test_a_full_queue_is_refused_at_once(tight: AsyncTestClient) -> None:
    gate: admission.Gate = tight.app.state.gate
    assert await gate.enter() is None
    queued = asyncio.create_task(gate.enter())  # the one waiting place, taken
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    refused = await tight.post("/v1/memories/query", json={})
    assert refused.status_code == 503
    assert loop.time() - started < 0.09  # not made to wait: no place to wait in
    assert "as many waiting" in refused.json()["detail"]
    gate.leave()
    assert await queued is None
    gate.leave()


async def test_the_console_and_mcp_inner_requests_need_no_second_place(
    tight: AsyncTestClient,
) -> None:
    """A console page or an MCP call takes one place; its API requests inside the service take
    none (with one place, they would otherwise wait for the request that waits for them)."""
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


async def test_off_with_zero(database_url: str, redis_url: str) -> None:
    settings = api.settings(database_url, redis_url, max_in_flight=0)
    async with AsyncTestClient(app=app.create_app(settings)) as test_client:
        assert test_client.app.state.gate is None
        ready = await test_client.get("/health/ready")
        assert ready.status_code == 200
