"""G5: a retried write with the same Idempotency-Key creates one record and answers the same."""

from __future__ import annotations

import asyncio

import psycopg
from litestar.testing import AsyncTestClient

BODY = {"agent_id": "a", "context": {"n": 1}, "tags": ["x"]}


def count(db_conn: psycopg.Connection) -> int:
    row = db_conn.execute("SELECT count(*) FROM memories").fetchone()
    assert row is not None
    return int(row[0])


async def test_retry_returns_the_first_answer(
    client: AsyncTestClient, db_conn: psycopg.Connection
) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = await client.post("/v1/memories", json=BODY, headers=headers)
    again = await client.post("/v1/memories", json=BODY, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count(db_conn) == 1


async def test_same_key_other_body_is_409(
    client: AsyncTestClient, db_conn: psycopg.Connection
) -> None:
    headers = {"Idempotency-Key": "k1"}
    assert (await client.post("/v1/memories", json=BODY, headers=headers)).status_code == 201
    other = await client.post("/v1/memories", json={**BODY, "importance": 0.9}, headers=headers)
    assert other.status_code == 409
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert count(db_conn) == 1


async def test_without_key_each_post_creates(
    client: AsyncTestClient, db_conn: psycopg.Connection
) -> None:
    for _ in range(2):
        assert (await client.post("/v1/memories", json=BODY)).status_code == 201
    assert count(db_conn) == 2


async def test_concurrent_retries_create_one(
    client: AsyncTestClient, db_conn: psycopg.Connection
) -> None:
    headers = {"Idempotency-Key": "burst"}
    answers = await asyncio.gather(
        *(client.post("/v1/memories", json=BODY, headers=headers) for _ in range(8))
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert count(db_conn) == 1


async def test_rejected_write_does_not_burn_the_key(
    client: AsyncTestClient, db_conn: psycopg.Connection
) -> None:
    headers = {"Idempotency-Key": "retry-after-fix"}
    bad = await client.post(
        "/v1/memories", json={**BODY, "context": {"x": "y" * 70000}}, headers=headers
    )
    assert bad.status_code == 413
    good = await client.post("/v1/memories", json=BODY, headers=headers)
    assert good.status_code == 201
    assert count(db_conn) == 1


async def test_bad_keys(client: AsyncTestClient, db_conn: psycopg.Connection) -> None:
    for key in ["x" * 256, "tab\there"]:
        response = await client.post("/v1/memories", json=BODY, headers={"Idempotency-Key": key})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert count(db_conn) == 0
