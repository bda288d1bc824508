"""`dedupe: {threshold}` on a store: a live memory of the same agent at least that similar is
answered (200, `duplicate_of`) and nothing is stored; concurrent dedupe stores of one agent
take turns; Idempotency-Key replays either answer. Vectors are the clients' (3 dimensions)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
from litestar.testing import AsyncTestClient

from brain import app
from tests.support import api
from tests.support.service import Service

DIMS = 3


def memory(vector: list[float], threshold: float | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"agent_id": "a", "context": {"note": "n"}, "embedding": vector}
    if threshold is not None:
        body["dedupe"] = {"threshold": threshold}
    return {**body, **fields}


def count(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM memories").fetchone()
    assert row is not None
    return int(row[0])


async def test_a_near_duplicate_is_answered_and_not_stored(
    vclient: AsyncTestClient, database_url: str
) -> None:
    first = await vclient.post("/v1/memories", json=memory([1.0, 0.0, 0.0], tags=["x"]))
    assert first.status_code == 201
    near = [1.0, 0.1, 0.0]  # cosine 0.995
    again = await vclient.post("/v1/memories", json=memory(near, 0.99, tags=["other"]))
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["duplicate_of"] == first.json()["id"]
    assert {k: v for k, v in body.items() if k != "duplicate_of"} == first.json()
    assert count(database_url) == 1
    further = await vclient.post("/v1/memories", json=memory(near, 0.999))
    assert further.status_code == 201 and "duplicate_of" not in further.json()
    assert count(database_url) == 2


async def test_the_same_vector_reaches_threshold_one(vclient: AsyncTestClient) -> None:
    first = await vclient.post("/v1/memories", json=memory([0.3, -0.2, 0.9]))
    again = await vclient.post("/v1/memories", json=memory([0.3, -0.2, 0.9], 1.0))
    assert again.status_code == 200 and again.json()["duplicate_of"] == first.json()["id"]


async def test_only_the_same_agents_live_memories_count(
    vclient: AsyncTestClient, database_url: str
) -> None:
    mine = await vclient.post("/v1/memories", json=memory([1.0, 0.0, 0.0]))
    other = await vclient.post("/v1/memories", json=memory([0.0, 1.0, 0.0], agent_id="b"))
    response = await vclient.post("/v1/memories", json=memory([0.0, 1.0, 0.0], 0.9))
    assert response.status_code == 201  # b's memory is not a's duplicate
    with psycopg.connect(database_url) as conn:  # G4: an expired memory is no duplicate
        conn.execute(
            "UPDATE memories SET expires_at = now() - interval '1 second' WHERE id = %s",
            (mine.json()["id"],),
        )
    response = await vclient.post("/v1/memories", json=memory([1.0, 0.0, 0.0], 0.9))
    assert response.status_code == 201 and response.json()["id"] != mine.json()["id"]
    assert other.status_code == 201


async def test_a_replay_answers_as_the_first_time(vclient: AsyncTestClient) -> None:
    stored = await vclient.post(
        "/v1/memories", json=memory([1.0, 0.0, 0.0], 0.9), headers={"Idempotency-Key": "k1"}
    )
    replay = await vclient.post(
        "/v1/memories", json=memory([1.0, 0.0, 0.0], 0.9), headers={"Idempotency-Key": "k1"}
    )
    assert stored.status_code == replay.status_code == 201
    assert replay.json() == stored.json()
    duplicate = await vclient.post(
        "/v1/memories", json=memory([1.0, 0.0, 0.0], 0.9), headers={"Idempotency-Key": "k2"}
    )
    replay = await vclient.post(
        "/v1/memories", json=memory([1.0, 0.0, 0.0], 0.9), headers={"Idempotency-Key": "k2"}
    )
    assert duplicate.status_code == replay.status_code == 200
    assert (
        replay.json() == duplicate.json() and replay.json()["duplicate_of"] == stored.json()["id"]
    )


async def test_bad_dedupe_is_a_422_and_stores_nothing(
    vclient: AsyncTestClient, database_url: str
) -> None:
    for dedupe, field in [
        ({"threshold": 1.5}, "dedupe.threshold"),
        ({"threshold": -0.1}, "dedupe.threshold"),
        ({}, "dedupe.threshold"),
        ({"threshold": 0.5, "other": 1}, "dedupe.other"),
        ({"threshold": "high"}, "dedupe.threshold"),
    ]:
        body = {**memory([1.0, 0.0, 0.0]), "dedupe": dedupe}
        response = await vclient.post("/v1/memories", json=body)
        assert response.status_code == 422, (dedupe, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], response.text
    no_vector = {"agent_id": "a", "context": {"note": "n"}, "dedupe": {"threshold": 0.9}}
    response = await vclient.post("/v1/memories", json=no_vector)
    assert response.status_code == 422 and "send `embedding`" in response.json()["detail"]
    assert count(database_url) == 0


async def test_dedupe_without_vectors_is_a_422(database_url: str, redis_url: str) -> None:
    settings = api.settings(database_url, redis_url, embeddings="none")
    async with AsyncTestClient(app=app.create_app(settings)) as client:
        body = {"agent_id": "a", "context": {"note": "n"}, "dedupe": {"threshold": 0.9}}
        response = await client.post("/v1/memories", json=body, headers=api.AUTH)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["dedupe"]
    assert count(database_url) == 0


async def test_concurrent_alike_stores_insert_one(
    database_url: str, redis_url: str, tmp_path: Any
) -> None:
    """Ten alike stores at once, to a real `brain serve` with two workers: one is stored, the
    other nine answer it."""
    env = {
        **api.service_env(database_url, redis_url),
        "BRAIN_EMBEDDINGS": "none", "BRAIN_EMBEDDINGS_MODEL": "test-vectors",
        "BRAIN_EMBEDDINGS_DIMENSIONS": str(DIMS),
    }  # fmt: skip
    service = Service(env, workers=2, log=tmp_path / "serve.log").start()
    try:
        async with httpx.AsyncClient(base_url=service.url, headers=api.AUTH) as client:
            answers = await asyncio.gather(
                *(
                    client.post("/v1/memories", json=memory([1.0, 0.01 * n, 0.0], 0.95))
                    for n in range(10)
                )
            )
    finally:
        assert service.stop() == 0
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 9 + [201], [a.text for a in answers]
    [created] = [a.json()["id"] for a in answers if a.status_code == 201]
    assert {a.json()["duplicate_of"] for a in answers if a.status_code == 200} == {created}
    assert count(database_url) == 1
