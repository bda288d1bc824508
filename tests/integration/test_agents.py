"""The agent registry lives in PostgreSQL."""

from __future__ import annotations

import datetime as dt

from litestar.testing import AsyncTestClient


async def test_register_then_update(client: AsyncTestClient) -> None:
    body = {
        "name": "Sales",
        "role": "closer",
        "capabilities": ["crm", "email"],
        "metadata": {"tz": "UTC"},
    }
    first = await client.put("/v1/agents/sales", json=body)
    assert first.status_code == 201
    agent = first.json()
    assert agent["id"] == "sales"
    assert agent["capabilities"] == ["crm", "email"]
    assert agent["metadata"] == {"tz": "UTC"}
    registered = dt.datetime.fromisoformat(agent["registered_at"])
    second = await client.put("/v1/agents/sales", json={"name": "Sales 2"})
    assert second.status_code == 200
    updated = second.json()
    assert updated["name"] == "Sales 2"
    assert updated["role"] is None  # PUT replaces the registration as a whole
    assert updated["capabilities"] == []
    assert dt.datetime.fromisoformat(updated["registered_at"]) == registered
    assert dt.datetime.fromisoformat(updated["last_seen_at"]) >= registered
    assert (await client.get("/v1/agents/sales")).json() == updated


async def test_empty_body_registers(client: AsyncTestClient) -> None:
    response = await client.put("/v1/agents/a.b-c_9", json={})
    assert response.status_code == 201
    assert response.json()["name"] is None


async def test_list_and_paginate(client: AsyncTestClient) -> None:
    assert (await client.get("/v1/agents")).json() == {"items": [], "next_cursor": None}
    for name in ["carol", "alice", "bob"]:
        await client.put(f"/v1/agents/{name}", json={})
    listing = (await client.get("/v1/agents")).json()
    assert [a["id"] for a in listing["items"]] == ["alice", "bob", "carol"]
    page = (await client.get("/v1/agents", params={"limit": 2})).json()
    assert [a["id"] for a in page["items"]] == ["alice", "bob"]
    rest = (
        await client.get("/v1/agents", params={"limit": 2, "cursor": page["next_cursor"]})
    ).json()
    assert [a["id"] for a in rest["items"]] == ["carol"]
    assert rest["next_cursor"] is None


async def test_get_and_delete(client: AsyncTestClient) -> None:
    assert (await client.get("/v1/agents/ghost")).status_code == 404
    await client.put("/v1/agents/ghost", json={})
    await client.post("/v1/memories", json={"agent_id": "ghost", "context": {"k": 1}})
    assert (await client.delete("/v1/agents/ghost")).status_code == 204
    assert (await client.get("/v1/agents/ghost")).status_code == 404
    assert (await client.delete("/v1/agents/ghost")).status_code == 404
    # Memories are shared knowledge: they outlive the registration.
    page = (await client.post("/v1/memories/query", json={"agent_id": "ghost"})).json()
    assert len(page["items"]) == 1


async def test_bad_agent_ids(client: AsyncTestClient) -> None:
    for bad in ["a" * 65, "sp ace", "semi;colon", "ünï"]:
        response = await client.put(f"/v1/agents/{bad}", json={})
        assert response.status_code == 422, bad
        assert response.json()["errors"][0]["field"] == "agent_id"
    assert (await client.get("/v1/agents")).json()["items"] == []
    assert (await client.put("/v1/agents/" + "a" * 64, json={})).status_code == 201
