"""Stores without an Idempotency-Key that arrive together share one INSERT (brain.batching).

Through a real `brain serve`: the in-process test client handles one request at a time."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import psycopg

from tests.support.api import AUTH
from tests.support.service import Service


async def post_all(service: Service, bodies: list[dict]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(base_url=service.url, headers=AUTH, limits=limits) as client:
        return await asyncio.gather(*(client.post("/v1/memories", json=b) for b in bodies))


async def test_concurrent_stores_share_inserts_and_each_gets_its_own(
    service: Service, db_conn: psycopg.Connection
) -> None:
    """Each request is answered with its own memory; rows of one statement share its
    transaction id (xmin); the cache is retired and written through as by single stores."""
    async with httpx.AsyncClient(base_url=service.url, headers=AUTH) as client:
        cached = await client.post("/v1/memories/query", json={"agent_id": "sales"})
        assert cached.json()["items"] == []
    bodies = [
        {"agent_id": f"agent-{n % 3}", "context": {"n": n}, "tags": [f"t{n}"]} for n in range(60)
    ]
    bodies[-1]["agent_id"] = "sales"
    responses = await post_all(service, bodies)
    assert [r.status_code for r in responses] == [201] * len(bodies)
    created = [r.json() for r in responses]
    assert [(m["context"], m["tags"], m["agent_id"]) for m in created] == [
        (b["context"], b["tags"], b["agent_id"]) for b in bodies
    ]
    rows = db_conn.execute("SELECT id::text, xmin::text FROM memories").fetchall()
    assert sorted(r[0] for r in rows) == sorted(m["id"] for m in created)
    assert len({r[1] for r in rows}) < len(bodies), "every store had an INSERT of its own"
    async with httpx.AsyncClient(base_url=service.url, headers=AUTH) as client:
        page = await client.post("/v1/memories/query", json={"agent_id": "sales"})
        assert page.headers["X-Brain-Cache"] == "miss"
        assert [m["id"] for m in page.json()["items"]] == [created[-1]["id"]]
        for memory in created:
            got = await client.get(f"/v1/memories/{memory['id']}")
            assert got.headers["X-Brain-Cache"] == "hit" and got.json() == memory


async def test_store_the_database_refuses_fails_alone(
    service: Service, db_conn: psycopg.Connection
) -> None:
    """Should PostgreSQL refuse one memory of a shared INSERT, only its request fails."""
    db_conn.execute("ALTER TABLE memories ADD CONSTRAINT refuse CHECK (agent_id <> 'refused')")
    bodies = [{"agent_id": f"a{n}", "context": {"n": n}} for n in range(60)]
    bodies[45]["agent_id"] = "refused"
    try:
        responses = await post_all(service, bodies)
    finally:
        db_conn.execute("ALTER TABLE memories DROP CONSTRAINT refuse")
    assert [r.status_code for r in responses] == [201] * 45 + [422] + [201] * 14
    assert "Rejected by the database" in responses[45].json()["detail"]
    # The refused memory went in a shared INSERT (as the test above shows 60 concurrent stores
    # do): without the retry one by one, the others of that INSERT would have failed with it.
    rows = db_conn.execute("SELECT agent_id FROM memories").fetchall()
    assert sorted(r[0] for r in rows) == sorted(
        b["agent_id"] for b in bodies if b is not bodies[45]
    )


async def test_one_201_is_one_row_whatever_shares_the_statement(
    service: Service, db_conn: psycopg.Connection
) -> None:
    """Poison among ordinary concurrent stores: an expiry after the year 9999 in UTC (PostgreSQL
    took it, then the answer could not be read: the shared INSERT had committed, and storing each
    memory again wrote them twice) and a memory the database refuses (the shared INSERT wrote
    nothing, and each is stored alone). Every 201 is exactly one row; nothing else is a row."""
    db_conn.execute("ALTER TABLE memories ADD CONSTRAINT refuse CHECK (NOT context ? 'refuse')")
    bodies: list[dict] = []
    for n in range(150):
        body: dict = {"agent_id": f"a{n % 7}", "context": {"n": n}}
        if n % 5 == 1:
            body["expires_at"] = "9999-12-31T23:59:59-14:00"
        elif n % 5 == 3:
            body["context"]["refuse"] = True
        bodies.append(body)
    try:
        responses = await post_all(service, bodies)
    finally:
        db_conn.execute("ALTER TABLE memories DROP CONSTRAINT refuse")
    expected = [422 if n % 5 in (1, 3) else 201 for n in range(150)]
    assert [r.status_code for r in responses] == expected, [r.text for r in responses][:5]
    assert {r.json()["errors"][0]["field"] for r in responses[1::5]} == {"expires_at"}
    created = [r.json() for r in responses if r.status_code == 201]
    rows = db_conn.execute("SELECT id::text, (context->>'n')::int FROM memories").fetchall()
    assert sorted(r[0] for r in rows) == sorted(m["id"] for m in created)
    assert Counter(r[1] for r in rows) == Counter(m["context"]["n"] for m in created)
    assert max(Counter(r[1] for r in rows).values()) == 1
