"""Queries by meaning with vectors sent by clients (BRAIN_EMBEDDINGS=none with a dimension):
filters inside the HNSW scan, exact order against brute force, cursors, hybrid fusion, the cache
and the 422s. The local model's own tests are in test_semantic.py."""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.support import api

DIMS = 3


def names(problem: dict[str, Any], field: str) -> bool:
    """Whether the problem details name `field` (or one of its items: `vector[2]`)."""
    return any(e["field"].split("[")[0] == field for e in problem["errors"])


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.hypot(*a) * math.hypot(*b))


async def store(client: AsyncTestClient, vector: list[float], **fields: Any) -> str:
    body = {"agent_id": "a", "context": {"n": len(vector)}, "embedding": vector, **fields}
    response = await client.post("/v1/memories", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_a_selective_filter_still_fills_the_page_in_exact_order(
    vclient: AsyncTestClient,
) -> None:
    rng = random.Random(7)
    rare: dict[str, list[float]] = {}
    items = []
    for n in range(400):
        vector = [rng.uniform(-1, 1) for _ in range(DIMS)]
        tags = ["rare"] if n % 40 == 0 else ["common"]
        items.append({"agent_id": "a", "context": {"n": n}, "tags": tags, "embedding": vector})
    for start in range(0, len(items), 100):
        response = await vclient.post("/v1/memories/batch", json={"items": items[start:][:100]})
        assert response.status_code == 201
        for item, stored in zip(items[start:][:100], response.json()["items"], strict=True):
            if item["tags"] == ["rare"]:
                rare[stored["id"]] = item["embedding"]
    query = [0.3, -0.2, 0.9]
    response = await vclient.post(
        "/v1/memories/query", json={"vector": query, "tags": ["rare"], "limit": 8}
    )
    assert response.status_code == 200, response.text
    got = response.json()["items"]
    expected = sorted(rare, key=lambda i: -cosine(rare[i], query))[:8]
    assert [m["id"] for m in got] == expected
    for m in got:
        assert m["score"] == pytest.approx(cosine(rare[m["id"]], query), abs=1e-6)
        assert m["tags"] == ["rare"]


async def test_ranked_pages_neither_repeat_nor_skip(vclient: AsyncTestClient) -> None:
    rng = random.Random(3)
    vectors = {}
    for n in range(23):
        vector = [rng.uniform(-1, 1) for _ in range(DIMS)]
        vectors[await store(vclient, vector)] = vector
        if n % 5 == 0:  # the same vector twice: equal scores, ordered by id
            vectors[await store(vclient, vector)] = vector
    query = [1.0, 0.5, -0.25]
    seen: list[str] = []
    cursor = None
    while True:
        body: dict[str, Any] = {"vector": query, "limit": 4}
        if cursor:
            body["cursor"] = cursor
        page = (await vclient.post("/v1/memories/query", json=body)).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == len(vectors)
    scores = [cosine(vectors[i], query) for i in seen]
    assert all(a >= b - 1e-9 for a, b in itertools.pairwise(scores))


async def test_min_score_cuts_weak_matches(vclient: AsyncTestClient) -> None:
    near = await store(vclient, [1.0, 0.0, 0.0])
    await store(vclient, [0.0, 1.0, 0.0])
    await store(vclient, [-1.0, 0.0, 0.0])
    response = await vclient.post(
        "/v1/memories/query", json={"vector": [1.0, 0.1, 0.0], "min_score": 0.5}
    )
    assert [m["id"] for m in response.json()["items"]] == [near]


async def test_hybrid_fuses_the_two_rankings(vclient: AsyncTestClient) -> None:
    """By meaning: m1, m3, m2. By words ("alpha"): m2 (three times), m1; m3 has no "alpha"."""
    m1 = await store(vclient, [1.0, 0.0, 0.0], context={"note": "alpha beta"})
    m2 = await store(vclient, [0.0, 1.0, 0.0], context={"note": "alpha alpha alpha"})
    m3 = await store(vclient, [0.9, 0.1, 0.0], context={"note": "gamma"})
    response = await vclient.post(
        "/v1/memories/query", json={"vector": [1.0, 0.0, 0.0], "text": "alpha"}
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [m["id"] for m in items] == [m1, m2, m3]
    expected = [1 / 61 + 1 / 62, 1 / 63 + 1 / 61, 1 / 62]
    assert [m["score"] for m in items] == pytest.approx(expected, abs=1e-12)


async def test_ranked_queries_are_cached_and_invalidated(vclient: AsyncTestClient) -> None:
    await store(vclient, [1.0, 0.0, 0.0])
    query = {"vector": [1.0, 0.2, 0.0]}
    outcomes = []
    for _ in range(2):
        response = await vclient.post("/v1/memories/query", json=query)
        outcomes.append(response.headers["X-Brain-Cache"])
    assert outcomes == ["miss", "hit"]
    await store(vclient, [0.5, 0.5, 0.0])
    response = await vclient.post("/v1/memories/query", json=query)
    assert response.headers["X-Brain-Cache"] == "miss"
    assert len(response.json()["items"]) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"vector": [1.0, 2.0]}, "vector"),
        ('{"vector": [1.0, 2.0, 1e400]}', "vector"),  # infinity, as JSON can only say it
        ({"vector": [1.0, "x", 2.0]}, "vector"),
        ({"vector": []}, "vector"),
        ({"semantic": "how does Acme like to be contacted"}, "semantic"),
        ({"min_score": 0.5}, "min_score"),
        ({"vector": [1.0, 0.0, 0.0], "order": "recent"}, "order"),
        ({"order": "relevance"}, "order"),
        ({"vector": [1.0, 0.0, 0.0], "min_score": 2}, "min_score"),
    ],
)
async def test_bad_ranked_queries_are_422_naming_the_field(
    vclient: AsyncTestClient, body: dict[str, Any] | str, field: str
) -> None:
    if isinstance(body, str):
        response = await vclient.post("/v1/memories/query", content=body, headers=api.JSON)
    else:
        response = await vclient.post("/v1/memories/query", json=body)
    assert response.status_code == 422, response.text
    assert names(response.json(), field), response.json()


@pytest.mark.parametrize(
    "embedding", ["[1.0, 2.0]", "[1.0, 2.0, 1e400]", "[1.0, null, 2.0]", "[]", str([1.0] * 4097)]
)
async def test_bad_vectors_store_nothing(vclient: AsyncTestClient, embedding: str) -> None:
    body = f'{{"agent_id": "a", "context": {{"x": 1}}, "embedding": {embedding}}}'
    response = await vclient.post("/v1/memories", content=body, headers=api.JSON)
    assert response.status_code == 422, response.text
    assert names(response.json(), "embedding"), response.json()
    batch = await vclient.post(
        "/v1/memories/batch", content=f'{{"items": [{body}]}}', headers=api.JSON
    )
    assert batch.status_code == 422
    assert (await vclient.post("/v1/memories/query", json={})).json()["items"] == []


async def test_without_embeddings_vectors_are_refused(client: AsyncTestClient) -> None:
    response = await client.post(
        "/v1/memories", json={"agent_id": "a", "context": {}, "embedding": [1.0, 2.0, 3.0]}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "embedding"
    response = await client.post("/v1/memories/query", json={"vector": [1.0, 2.0, 3.0]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "vector"


async def test_a_hybrid_text_of_only_stop_words_is_a_422(vclient: AsyncTestClient) -> None:
    """As for a query by words alone: a hybrid query must not rank by meaning alone unseen."""
    await store(vclient, [1.0, 0.0, 0.0])
    response = await vclient.post(
        "/v1/memories/query", json={"vector": [1.0, 0.0, 0.0], "text": "the and"}
    )
    assert response.status_code == 422 and names(response.json(), "text")


async def test_hybrid_pages_end_at_their_candidates_and_keep_their_page_size(
    vclient: AsyncTestClient,
) -> None:
    """With limit 10, each ranking gives its top 40 of the 50 memories (by meaning; by words,
    where all rank the same, by id): the pages walk exactly their union, each memory once; a
    cursor of one page size is refused with another (the candidates follow it)."""
    rng = random.Random(3)
    items = [
        {"agent_id": "a", "context": {"note": f"alpha {n}"},
         "embedding": [rng.uniform(-1, 1) for _ in range(DIMS)]}
        for n in range(50)
    ]  # fmt: skip
    stored = await vclient.post("/v1/memories/batch", json={"items": items})
    ids = [m["id"] for m in stored.json()["items"]]
    by_meaning = sorted(ids, key=lambda i: -cosine(items[ids.index(i)]["embedding"], [1, 0, 0]))
    expected = set(by_meaning[:40]) | set(sorted(ids)[:40])
    query: dict[str, Any] = {"vector": [1.0, 0.0, 0.0], "text": "alpha", "limit": 10}
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = (await vclient.post("/v1/memories/query", json={**query, "cursor": cursor})).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) and set(seen) == expected
    first = (await vclient.post("/v1/memories/query", json=query)).json()
    other = await vclient.post(
        "/v1/memories/query", json={**query, "limit": 20, "cursor": first["next_cursor"]}
    )
    assert other.status_code == 422 and names(other.json(), "cursor")
    wide = await vclient.post("/v1/memories/query", json={**query, "limit": 50})
    assert len(wide.json()["items"]) == 50  # 200 candidates each: all of them
