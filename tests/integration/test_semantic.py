"""Recall by meaning with the real local model (BRAIN_EMBEDDINGS=local, all-MiniLM-L6-v2 in
numpy): paraphrased questions find the memory they are about, filters keep full pages, hybrid
queries, and the embedding space each row records."""

from __future__ import annotations

import psycopg
import pytest
from litestar.testing import AsyncTestClient

MEMORIES = [
    {"note": "Acme prefers email, never calls before 10:00", "customer": "Acme"},
    {"note": "The staging deploy failed because the disk was full"},
    {"note": "Globex renews its contract in March"},
    {"note": "Use the blue-green strategy for database migrations"},
    {"note": "Initech's CTO is vegetarian: book restaurants accordingly"},
    {"note": "The API rate limit for partners is 100 requests per second"},
]
QUESTIONS = [
    ("How does Acme like to be contacted?", 0),
    ("Why did the deployment break?", 1),
    ("When is Globex's renewal?", 2),
    ("How do we roll out schema changes safely?", 3),
    ("What food should we order for Initech's technical lead?", 4),
    ("How many calls per second may a partner make?", 5),
]


async def store_all(client: AsyncTestClient) -> list[str]:
    items = [{"agent_id": f"agent{n % 2}", "context": c} for n, c in enumerate(MEMORIES)]
    response = await client.post("/v1/memories/batch", json={"items": items})
    assert response.status_code == 201, response.text
    return [m["id"] for m in response.json()["items"]]


@pytest.mark.parametrize(("question", "expected"), QUESTIONS)
async def test_a_paraphrased_question_finds_its_memory_first(
    local: AsyncTestClient, question: str, expected: int
) -> None:
    ids = await store_all(local)
    response = await local.post("/v1/memories/query", json={"semantic": question, "limit": 3})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert items[0]["id"] == ids[expected]
    assert items[0]["score"] > items[1]["score"] > items[2]["score"]


async def test_full_text_alone_finds_nothing_where_meaning_does(local: AsyncTestClient) -> None:
    ids = await store_all(local)
    question = "How does Acme like to be contacted?"
    words = await local.post("/v1/memories/query", json={"text": "contacted"})
    assert words.json()["items"] == []
    hybrid = await local.post("/v1/memories/query", json={"semantic": question, "text": "Acme"})
    assert hybrid.json()["items"][0]["id"] == ids[0]


async def test_filters_apply_to_queries_by_meaning(local: AsyncTestClient) -> None:
    ids = await store_all(local)
    response = await local.post(
        "/v1/memories/query",
        json={"semantic": "How does Acme like to be contacted?", "agent_id": "agent1"},
    )
    got = [m["id"] for m in response.json()["items"]]
    assert set(got) == {ids[n] for n in range(1, len(MEMORIES), 2)}


async def test_single_stores_are_embedded_in_the_model_space(
    local: AsyncTestClient, database_url: str
) -> None:
    created = await local.post(
        "/v1/memories", json={"agent_id": "a", "context": {"note": "Acme prefers email"}}
    )
    assert created.status_code == 201
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT embedding_space, vector_dims(embedding) FROM memories WHERE id = %s",
            (created.json()["id"],),
        ).fetchone()
    assert row == ("all-MiniLM-L6-v2/384", 384)
    found = await local.post(
        "/v1/memories/query", json={"semantic": "how should we contact Acme", "min_score": 0.5}
    )
    assert [m["id"] for m in found.json()["items"]] == [created.json()["id"]]


async def test_rows_of_another_space_are_never_compared(
    local: AsyncTestClient, database_url: str
) -> None:
    """A model change: rows embedded by another model are not found by meaning (brain reembed
    gives them vectors of the new one), never mixed in."""
    ids = await store_all(local)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE memories SET embedding_space = 'old-model/384' WHERE id = %s", (ids[0],)
        )
    response = await local.post(
        "/v1/memories/query", json={"semantic": "How does Acme like to be contacted?"}
    )
    assert ids[0] not in [m["id"] for m in response.json()["items"]]
    assert len(response.json()["items"]) == len(MEMORIES) - 1


async def test_dedupe_by_meaning_with_the_local_model(local: AsyncTestClient) -> None:
    """The same fact in other words is a duplicate at 0.8; another fact is not."""
    first = await local.post(
        "/v1/memories", json={"agent_id": "a", "context": {"note": "Acme prefers email"}}
    )
    assert first.status_code == 201
    dedupe = {"threshold": 0.8}
    alike = {"agent_id": "a", "context": {"note": "Acme likes to be emailed"}, "dedupe": dedupe}
    response = await local.post("/v1/memories", json=alike)
    assert response.status_code == 200, response.text
    assert response.json()["duplicate_of"] == first.json()["id"]
    other = {"agent_id": "a", "context": {"note": "Globex renews in March"}, "dedupe": dedupe}
    response = await local.post("/v1/memories", json=other)
    assert response.status_code == 201
    empty = {"agent_id": "a", "context": {"done": True}, "dedupe": dedupe}
    response = await local.post("/v1/memories", json=empty)
    assert response.status_code == 422 and "no text to embed" in response.json()["detail"]
