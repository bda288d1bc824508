"""Memory routes against real PostgreSQL and Redis: store, get, delete, query, history."""

from __future__ import annotations

import datetime as dt
import uuid

from litestar.testing import AsyncTestClient


async def store(client: AsyncTestClient, **body: object) -> dict:
    body.setdefault("agent_id", "sales")
    body.setdefault("context", {"note": "hello"})
    response = await client.post("/v1/memories", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def query(client: AsyncTestClient, **body: object) -> dict:
    response = await client.post("/v1/memories/query", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def ids(page: dict) -> list[str]:
    return [m["id"] for m in page["items"]]


async def test_store_returns_the_memory_and_get_reads_it(client: AsyncTestClient) -> None:
    created = await store(
        client, agent_id="sales", context={"customer": "Acme", "n": 3}, tags=["acme", "lead"],
        importance=0.8, ttl_seconds=600,
    )  # fmt: skip
    uuid.UUID(created["id"])
    assert created["agent_id"] == "sales"
    assert created["context"] == {"customer": "Acme", "n": 3}
    assert created["tags"] == ["acme", "lead"]
    assert created["importance"] == 0.8
    created_at = dt.datetime.fromisoformat(created["created_at"])
    expires_at = dt.datetime.fromisoformat(created["expires_at"])
    assert created_at.utcoffset() == dt.timedelta(0)
    assert abs((expires_at - created_at).total_seconds() - 600) < 1
    got = await client.get(f"/v1/memories/{created['id']}")
    assert got.status_code == 200
    assert got.json() == created
    assert got.headers["X-Brain-Cache"] in {"hit", "miss"}


async def test_defaults_and_expires_at(client: AsyncTestClient) -> None:
    plain = await store(client)
    assert plain["importance"] == 0.5
    assert plain["tags"] == []
    assert plain["expires_at"] is None
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).replace(microsecond=0)
    timed = await store(client, expires_at=when.isoformat())
    assert dt.datetime.fromisoformat(timed["expires_at"]) == when


async def test_repeated_tags_are_kept_once(client: AsyncTestClient) -> None:
    created = await store(client, tags=["a", "b", "a"])
    assert created["tags"] == ["a", "b"]


async def test_get_unknown_is_404_problem(client: AsyncTestClient) -> None:
    response = await client.get(f"/v1/memories/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 404


async def test_delete(client: AsyncTestClient) -> None:
    created = await store(client)
    await client.get(f"/v1/memories/{created['id']}")  # cached
    assert (await client.delete(f"/v1/memories/{created['id']}")).status_code == 204
    assert (await client.get(f"/v1/memories/{created['id']}")).status_code == 404
    assert (await client.delete(f"/v1/memories/{created['id']}")).status_code == 404
    assert ids(await query(client)) == []


async def test_query_filters(client: AsyncTestClient) -> None:
    a = await store(client, agent_id="sales", tags=["acme", "lead"], importance=0.9,
                    context={"note": "Acme wants a demo of the reporting module"})  # fmt: skip
    b = await store(client, agent_id="research", tags=["acme"], importance=0.3,
                    context={"note": "Acme revenue grew in 2025"})  # fmt: skip
    c = await store(client, agent_id="support", tags=["globex"], importance=0.6,
                    context={"note": "Globex reported a login bug", "ticket": 4411})  # fmt: skip
    everyone = await query(client)
    assert ids(everyone) == [c["id"], b["id"], a["id"]]  # newest first, all agents
    assert everyone["next_cursor"] is None
    assert ids(await query(client, agent_id="sales")) == [a["id"]]
    assert ids(await query(client, agent_ids=["sales", "support"])) == [c["id"], a["id"]]
    assert ids(await query(client, agent_ids=["nobody"])) == []
    assert ids(await query(client, tags=["acme"])) == [b["id"], a["id"]]
    assert ids(await query(client, tags=["acme", "globex"], match="any")) == [
        c["id"],
        b["id"],
        a["id"],
    ]
    assert ids(await query(client, tags=["acme", "lead"], match="all")) == [a["id"]]
    assert ids(await query(client, tags=["acme", "globex"], match="all")) == []
    assert ids(await query(client, min_importance=0.6)) == [c["id"], a["id"]]
    assert ids(await query(client, min_importance=0.9)) == [a["id"]]  # inclusive bound
    assert ids(await query(client, min_importance=1)) == []
    assert ids(await query(client, order="importance")) == [a["id"], c["id"], b["id"]]
    assert ids(await query(client, text="demo")) == [a["id"]]
    assert ids(await query(client, text="bugs")) == [c["id"]]  # stemmed: bugs ~ bug
    assert ids(await query(client, text="4411")) == [c["id"]]  # numbers are searchable
    assert ids(await query(client, text="acme -demo")) == [b["id"]]  # web search syntax
    assert ids(await query(client, text="nothing-like-this")) == []
    combined = await query(client, tags=["acme"], min_importance=0.5, text="demo", agent_id="sales")
    assert ids(combined) == [a["id"]]


async def test_query_time_window(client: AsyncTestClient) -> None:
    first = await store(client)
    second = await store(client)
    third = await store(client)
    since = second["created_at"]
    assert ids(await query(client, since=since)) == [third["id"], second["id"]]  # inclusive
    assert ids(await query(client, until=since)) == [first["id"]]  # exclusive
    assert ids(await query(client, since=first["created_at"], until=third["created_at"])) == [
        second["id"], first["id"],
    ]  # fmt: skip
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    assert ids(await query(client, since=future)) == []


async def test_pagination_walks_every_row_once(client: AsyncTestClient) -> None:
    made = [await store(client, importance=(i % 4) / 4) for i in range(23)]
    for order in ("recent", "importance"):
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            body = {"limit": 5, "order": order} | ({"cursor": cursor} if cursor else {})
            page = await query(client, **body)
            pages += 1
            seen += ids(page)
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 5
        assert sorted(seen) == sorted(m["id"] for m in made)
        assert len(seen) == len(set(seen))
    by_importance = await query(client, order="importance", limit=500)
    keys = [(m["importance"], m["created_at"]) for m in by_importance["items"]]
    assert keys == sorted(keys, reverse=True)


async def test_exact_page_has_no_next_cursor(client: AsyncTestClient) -> None:
    for _ in range(3):
        await store(client)
    page = await query(client, limit=3)
    assert len(page["items"]) == 3
    assert page["next_cursor"] is None
    page = await query(client, limit=2)
    assert page["next_cursor"] is not None
    rest = await query(client, limit=2, cursor=page["next_cursor"])
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None


async def test_cursor_from_another_query_is_rejected(client: AsyncTestClient) -> None:
    for _ in range(3):
        await store(client)
    page = await query(client, limit=1)
    response = await client.post(
        "/v1/memories/query",
        json={"limit": 1, "cursor": page["next_cursor"], "order": "importance"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "cursor"
    response = await client.post("/v1/memories/query", json={"cursor": "not-a-cursor"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "cursor"


async def test_agent_history(client: AsyncTestClient) -> None:
    mine = [await store(client, agent_id="research") for _ in range(3)]
    await store(client, agent_id="sales")
    response = await client.get("/v1/agents/research/memories", params={"limit": 2})
    assert response.status_code == 200
    page = response.json()
    assert ids(page) == [mine[2]["id"], mine[1]["id"]]
    rest = (await client.get(
        "/v1/agents/research/memories", params={"limit": 2, "cursor": page["next_cursor"]}
    )).json()  # fmt: skip
    assert ids(rest) == [mine[0]["id"]]
    assert rest["next_cursor"] is None
    empty = await client.get("/v1/agents/nobody/memories")
    assert empty.json() == {"items": [], "next_cursor": None}
    assert (await client.get("/v1/agents/bad id/memories")).status_code == 422
    assert (await client.get("/v1/agents/research/memories?limit=501")).status_code == 422
    assert (await client.get("/v1/agents/research/memories?limit=0")).status_code == 422


async def test_batch_stores_all_in_order(client: AsyncTestClient) -> None:
    items = [
        {"agent_id": "sales", "context": {"n": 1}, "tags": ["a", "b", "a"], "importance": 0.9},
        {"agent_id": "support", "context": {"n": 2}, "ttl_seconds": 600},
        {"agent_id": "sales", "context": {"n": 3}},
    ]
    response = await client.post("/v1/memories/batch", json={"items": items})
    assert response.status_code == 201, response.text
    created = response.json()["items"]
    assert [m["context"]["n"] for m in created] == [1, 2, 3]
    assert created[0]["tags"] == ["a", "b"] and created[0]["importance"] == 0.9
    assert created[1]["expires_at"] is not None and created[2]["expires_at"] is None
    for memory in created:  # written through to the cache, and readable
        got = await client.get(f"/v1/memories/{memory['id']}")
        assert got.json() == memory
        assert got.headers["X-Brain-Cache"] == "hit"
    assert {m["context"]["n"] for m in (await query(client, agent_id="sales"))["items"]} == {1, 3}


async def test_batch_retires_cached_pages_of_its_agents(client: AsyncTestClient) -> None:
    first = await store(client, agent_id="sales")
    await query(client, agent_id="sales")
    other = await query(client, agent_id="ops")
    assert (await client.post("/v1/memories/query", json={"agent_id": "sales"})).headers[
        "X-Brain-Cache"
    ] == "hit"
    batch = {"items": [{"agent_id": "sales", "context": {"n": 1}}]}
    added = (await client.post("/v1/memories/batch", json=batch)).json()["items"][0]
    response = await client.post("/v1/memories/query", json={"agent_id": "sales"})
    assert response.headers["X-Brain-Cache"] == "miss"
    assert ids(response.json()) == [added["id"], first["id"]]
    again = await client.post("/v1/memories/query", json={"agent_id": "ops"})
    assert again.headers["X-Brain-Cache"] == "hit" and again.json() == other


async def test_batch_retry_with_the_same_key_writes_once(client: AsyncTestClient) -> None:
    batch = {"items": [{"agent_id": "a", "context": {"n": 1}}, {"agent_id": "b", "context": {}}]}
    key = {"Idempotency-Key": "batch-1"}
    first = await client.post("/v1/memories/batch", json=batch, headers=key)
    retry = await client.post("/v1/memories/batch", json=batch, headers=key)
    assert first.status_code == retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert len((await query(client))["items"]) == 2
    other = await client.post("/v1/memories/batch", json={"items": batch["items"][:1]}, headers=key)
    assert other.status_code == 409
