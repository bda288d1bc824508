"""G8: bad input gets a 4xx problem-details body naming the field; nothing is written."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from litestar.testing import AsyncTestClient

FUTURE = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
GOOD = {"agent_id": "a", "context": {"k": "v"}}

BAD_MEMORIES = [
    # (body, status, field)
    ({"context": {}}, 422, "agent_id"),
    ({**GOOD, "agent_id": ""}, 422, "agent_id"),
    ({**GOOD, "agent_id": "has space"}, 422, "agent_id"),
    ({**GOOD, "agent_id": "x" * 65}, 422, "agent_id"),
    ({**GOOD, "agent_id": 7}, 422, "agent_id"),
    ({"agent_id": "a"}, 422, "context"),
    ({**GOOD, "context": "text"}, 422, "context"),
    ({**GOOD, "context": [1, 2]}, 422, "context"),
    ({**GOOD, "context": None}, 422, "context"),
    ({**GOOD, "context": {"big": "x" * 65536}}, 413, "context"),
    ({**GOOD, "tags": "one"}, 422, "tags"),
    ({**GOOD, "tags": [f"t{i}" for i in range(33)]}, 422, "tags"),
    ({**GOOD, "tags": ["x" * 65]}, 422, "tags[0]"),
    ({**GOOD, "tags": ["ok", ""]}, 422, "tags[1]"),
    ({**GOOD, "tags": ["ok", 3]}, 422, "tags[1]"),
    ({**GOOD, "importance": 1.5}, 422, "importance"),
    ({**GOOD, "importance": -0.1}, 422, "importance"),
    ({**GOOD, "importance": "high"}, 422, "importance"),
    ({**GOOD, "ttl_seconds": 0}, 422, "ttl_seconds"),
    ({**GOOD, "ttl_seconds": -5}, 422, "ttl_seconds"),
    ({**GOOD, "ttl_seconds": 1.5}, 422, "ttl_seconds"),
    ({**GOOD, "ttl_seconds": 10 * 365 * 24 * 3600 + 1}, 422, "ttl_seconds"),
    ({**GOOD, "ttl_seconds": 60, "expires_at": FUTURE}, 422, "expires_at"),
    ({**GOOD, "expires_at": "2020-01-01T00:00:00Z"}, 422, "expires_at"),
    ({**GOOD, "expires_at": "2999-01-01T00:00:00"}, 422, "expires_at"),  # no offset
    ({**GOOD, "expires_at": "tomorrow"}, 422, "expires_at"),
    ({**GOOD, "colour": "blue"}, 422, "colour"),
    # PostgreSQL's text and jsonb cannot hold U+0000: a 422, not a database error.
    ({**GOOD, "context": {"k": "a\x00b"}}, 422, "context"),
    ({**GOOD, "context": {"k\x00": "v"}}, 422, "context"),
    ({**GOOD, "context": {"k": [{"deep": ["\x00"]}]}}, 422, "context"),
    ({**GOOD, "context": {"k": "\\\x00"}}, 422, "context"),  # a backslash, then NUL
    ({**GOOD, "tags": ["ok", "t\x00"]}, 422, "tags[1]"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_MEMORIES)
async def test_bad_memory_is_rejected_and_nothing_written(
    client: AsyncTestClient, db_conn: psycopg.Connection, body: dict, status: int, field: str
) -> None:
    response = await client.post("/v1/memories", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"] and problem["detail"]
    assert any(e["field"] == field for e in problem["errors"]), problem
    assert db_conn.execute("SELECT count(*) FROM memories").fetchone() == (0,)
    assert db_conn.execute("SELECT count(*) FROM idempotency_keys").fetchone() == (0,)


@pytest.mark.parametrize(("body", "status", "field"), BAD_MEMORIES)
async def test_bad_batch_item_is_rejected_and_nothing_written(
    client: AsyncTestClient, db_conn: psycopg.Connection, body: dict, status: int, field: str
) -> None:
    """The same rules hold for each item of a batch; the error names the item, and the good
    items before and after it are not written either."""
    batch = {"items": [GOOD, body, GOOD]}
    response = await client.post("/v1/memories/batch", json=batch, headers={"Idempotency-Key": "k"})
    assert response.status_code == status, response.text
    problem = response.json()
    named = f"items[1].{field}" if not field.startswith("[") else f"items[1]{field}"
    assert any(e["field"] == named for e in problem["errors"]), problem
    assert db_conn.execute("SELECT count(*) FROM memories").fetchone() == (0,)
    assert db_conn.execute("SELECT count(*) FROM idempotency_keys").fetchone() == (0,)


@pytest.mark.parametrize(
    ("batch", "status", "field"),
    [
        ({}, 422, "items"),
        ({"items": []}, 422, "items"),
        ({"items": [GOOD] * 101}, 422, "items"),
        ({"items": GOOD}, 422, "items"),
        ({"items": [GOOD], "extra": 1}, 422, "extra"),
    ],
)
async def test_bad_batch_is_rejected_and_nothing_written(
    client: AsyncTestClient, db_conn: psycopg.Connection, batch: dict, status: int, field: str
) -> None:
    response = await client.post("/v1/memories/batch", json=batch)
    assert response.status_code == status, response.text
    assert any(e["field"] == field for e in response.json()["errors"]), response.text
    assert db_conn.execute("SELECT count(*) FROM memories").fetchone() == (0,)


async def test_batch_body_limit_is_413(
    client: AsyncTestClient, db_conn: psycopg.Connection
) -> None:
    item = {"agent_id": "a", "context": {"x": "y" * 60_000}}  # each item within its own limit
    fits = await client.post("/v1/memories/batch", json={"items": [item] * 60})  # ~3.6 MB
    assert fits.status_code == 201, fits.text
    too_big = await client.post("/v1/memories/batch", json={"items": [item] * 80})  # ~4.8 MB
    assert too_big.status_code == 413
    assert db_conn.execute("SELECT count(*) FROM memories").fetchone() == (60,)


@pytest.mark.parametrize(
    "raw", [b"", b"{", b"not json", b"[]", b"null", b'{"agent_id": "a", "context": {}']
)
async def test_malformed_json_is_4xx(
    client: AsyncTestClient, db_conn: psycopg.Connection, raw: bytes
) -> None:
    response = await client.post(
        "/v1/memories", content=raw, headers={"Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert db_conn.execute("SELECT count(*) FROM memories").fetchone() == (0,)


async def test_oversized_request_is_413(
    client: AsyncTestClient, db_conn: psycopg.Connection
) -> None:
    huge = b'{"agent_id": "a", "context": {"x": "' + b"y" * 300_000 + b'"}}'
    response = await client.post(
        "/v1/memories", content=huge, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert db_conn.execute("SELECT count(*) FROM memories").fetchone() == (0,)


BAD_QUERIES = [
    ({"limit": 0}, "limit"),
    ({"limit": 501}, "limit"),
    ({"match": "some"}, "match"),
    ({"order": "random"}, "order"),
    ({"agent_id": "a", "agent_ids": ["b"]}, "agent_ids"),
    ({"agent_ids": []}, "agent_ids"),
    ({"agent_ids": ["ok", "not ok"]}, "agent_ids[1]"),
    ({"min_importance": 2}, "min_importance"),
    ({"since": FUTURE, "until": "2020-01-01T00:00:00Z"}, "until"),
    ({"since": "yesterday"}, "since"),
    ({"text": ""}, "text"),
    ({"text": "x" * 1001}, "text"),
    ({"tags": [f"t{i}" for i in range(33)]}, "tags"),
    ({"cursor": "%%%"}, "cursor"),
    ({"text": "a\x00b"}, "text"),
    ({"tags": ["\x00"]}, "tags[0]"),
    ({"limit": 5, "extra": True}, "extra"),
]


@pytest.mark.parametrize(("body", "field"), BAD_QUERIES)
async def test_bad_query_names_the_field(client: AsyncTestClient, body: dict, field: str) -> None:
    response = await client.post("/v1/memories/query", json=body)
    assert response.status_code == 422, response.text
    assert any(e["field"] == field for e in response.json()["errors"]), response.json()


BAD_AGENTS = [
    ({"name": "x" * 201}, "name"),
    ({"capabilities": [""]}, "capabilities[0]"),
    ({"capabilities": ["c"] * 65}, "capabilities"),
    ({"metadata": []}, "metadata"),
    ({"metadata": {"x": "y" * 70000}}, "metadata"),
    ({"unknown": 1}, "unknown"),
    ({"name": "a\x00"}, "name"),
    ({"role": "\x00"}, "role"),
    ({"capabilities": ["ok", "c\x00"]}, "capabilities[1]"),
    ({"metadata": {"x": "\x00"}}, "metadata"),
]


@pytest.mark.parametrize(("body", "field"), BAD_AGENTS)
async def test_bad_agent_is_rejected_and_nothing_written(
    client: AsyncTestClient, db_conn: psycopg.Connection, body: dict, field: str
) -> None:
    response = await client.put("/v1/agents/a", json=body)
    assert 400 <= response.status_code < 500
    assert any(e["field"] == field for e in response.json()["errors"]), response.json()
    assert db_conn.execute("SELECT count(*) FROM agents").fetchone() == (0,)


async def test_bad_ids_in_paths(client: AsyncTestClient) -> None:
    response = await client.get("/v1/memories/not-a-uuid")
    assert response.status_code in (404, 422)
    assert response.headers["content-type"].startswith("application/problem+json")
    response = await client.get("/v1/agents", params={"limit": "many"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "limit"


async def test_clear_needs_the_confirmation(
    client: AsyncTestClient, db_conn: psycopg.Connection
) -> None:
    await client.post("/v1/memories", json=GOOD)
    for body in ({}, {"confirm": "yes"}, {"confirm": "DELETE ALL DATA"}):
        response = await client.post("/v1/admin/clear", json=body)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "confirm"
    assert db_conn.execute("SELECT count(*) FROM memories").fetchone() == (1,)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/memories"),
        ("POST", "/v1/memories/batch"),
        ("POST", "/v1/memories/query"),
        ("PUT", "/v1/agents/a"),
        ("POST", "/v1/messages"),
        ("POST", "/v1/messages/broadcast"),
        ("POST", "/v1/agents/a/messages/ack"),
        ("POST", "/v1/admin/clear"),
    ],
)
async def test_body_not_utf8_is_400(
    client: AsyncTestClient, db_conn: psycopg.Connection, method: str, path: str
) -> None:
    raw = b'{"agent_id": "a", "context": {"k": "caf\xe9"}}'  # Latin-1, not UTF-8
    response = await client.request(
        method, path, content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == "Request body is not valid UTF-8"
    for table in ("memories", "agents", "messages"):
        assert db_conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)  # noqa: S608
