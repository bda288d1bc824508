"""G4 and G7 for queries by meaning (`vector`, `semantic`, hybrid with `text`): an expired memory
is never ranked, from the database or from the cache, on any page; a workspace never ranks
another's rows, whatever vectors they share; a query compares only vectors of the configured
embedding space. test_vectors.py has the ranking itself, test_expiry.py G4 for ordinary queries,
test_attack_matrix.py the ranked inputs aimed by a key of A at B."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import random
from typing import Any

import psycopg
import pytest
import redis
from litestar.testing import AsyncTestClient

from brain import app
from brain.kit import keys
from tests.support import api
from tests.support.tenancy import bearer, key, workspace

DIMS = 3
OTHER_SPACE = "other-model/3"
"""Another embedding space of the same dimension: the same vectors, never to be compared."""
Q = [1.0, 0.0, 0.0]


def client_for(database_url: str, redis_url: str, **changes: Any) -> AsyncTestClient:
    fields: dict[str, Any] = {
        "embeddings": "none", "embeddings_model": "test-vectors", "embeddings_dimensions": DIMS,
    }  # fmt: skip
    settings = api.settings(database_url, redis_url, **(fields | changes))
    client = AsyncTestClient(app=app.create_app(settings))
    client.headers.update(api.AUTH)
    return client


def at(degrees: float) -> list[float]:
    """A unit vector `degrees` away from Q (cosine similarity cos(degrees))."""
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees)), 0.0]


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.hypot(*a) * math.hypot(*b))


async def store(client: AsyncTestClient, vector: list[float] | None, **fields: Any) -> str:
    body = {"agent_id": "a", "context": {"note": "alpha"}, **fields}
    if vector is not None:
        body["embedding"] = vector
    response = await client.post("/v1/memories", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def ids_of(
    client: AsyncTestClient, body: dict[str, Any], headers: dict[str, str] | None = None
) -> list[str]:
    response = await client.post("/v1/memories/query", json=body, headers=headers)
    assert response.status_code == 200, (body, response.text)
    return [m["id"] for m in response.json()["items"]]


async def until_expired(expires_at: str) -> None:
    expires = dt.datetime.fromisoformat(expires_at)
    await asyncio.sleep(max(0.0, (expires - dt.datetime.now(dt.UTC)).total_seconds()) + 0.05)


def cached_queries(redis_url: str, workspace: str = "default") -> dict[str, int]:
    """The workspace's cached query results: key -> milliseconds left."""
    with redis.Redis.from_url(redis_url) as r:
        return {k.decode(): int(r.pttl(k)) for k in r.scan_iter(match=keys.query(workspace, "*"))}


# -- G4: expiry ---------------------------------------------------------------------------------

RANKED_BODIES = [
    {"vector": Q},
    {"vector": Q, "limit": 1},
    {"vector": Q, "min_score": 0.5},
    {"vector": Q, "agent_id": "a"},
    {"vector": Q, "agent_ids": ["a", "b"]},
    {"vector": Q, "tags": ["t"]},
    {"vector": Q, "tags": ["t", "u"], "match": "all", "min_importance": 0.4},
    {"vector": Q, "text": "alpha"},
    {"vector": Q, "text": "alpha", "limit": 1},
    {"vector": Q, "text": "alpha", "agent_id": "a", "tags": ["t"]},
    {"vector": Q, "text": "alpha", "min_score": 0.01},
]


async def test_an_expired_memory_leaves_every_ranked_result_and_its_cache(
    vclient: AsyncTestClient, redis_url: str
) -> None:
    """The nearest memory (and the best by words) expires after its queries were cached: no
    ranked query, filtered or not, vector or hybrid, returns it once it has expired."""
    fields = {"tags": ["t", "u"], "importance": 0.5}
    keep = await store(vclient, at(20), context={"note": "alpha"}, **fields)
    response = await vclient.post(
        "/v1/memories",
        json={"agent_id": "a", "context": {"note": "alpha alpha alpha"}, "embedding": at(1),
              "ttl_seconds": 1, **fields},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    brief = response.json()
    for body in RANKED_BODIES:
        outcomes, pages = [], []
        for _ in range(2):
            response = await vclient.post("/v1/memories/query", json=body)
            assert response.status_code == 200, (body, response.text)
            outcomes.append(response.headers["X-Brain-Cache"])
            pages.append([m["id"] for m in response.json()["items"]])
        assert outcomes == ["miss", "hit"], body
        assert pages[0] == pages[1] and pages[0][0] == brief["id"], (body, pages)
    cached = cached_queries(redis_url)
    assert len(cached) == len(RANKED_BODIES)
    # each entry dies with the memory it holds (G4), not with the cache's TTL
    assert all(0 < ms <= 1000 for ms in cached.values()), cached

    await until_expired(brief["expires_at"])

    for body in RANKED_BODIES:
        response = await vclient.post("/v1/memories/query", json=body)
        assert response.status_code == 200, (body, response.text)
        assert response.headers["X-Brain-Cache"] == "miss", body
        got = [m["id"] for m in response.json()["items"]]
        assert got == [keep], (body, got)
        if "text" not in body:
            [item] = response.json()["items"]
            assert item["score"] == pytest.approx(cosine(at(20), Q), abs=1e-6)
    assert (await vclient.get(f"/v1/memories/{brief['id']}")).status_code == 404


async def test_expired_rows_are_skipped_inside_the_scan_and_pages_stay_full(
    vclient: AsyncTestClient, db_conn: psycopg.Connection
) -> None:
    """The 40 nearest memories have expired (expires_at in the past, set in SQL, as cleanup has
    not run): a page of 10 is the 10 nearest live ones, in order, with and without a filter."""
    rng = random.Random(11)
    vectors: dict[str, list[float]] = {}
    tags: dict[str, str] = {}
    items = []
    for n in range(240):
        vector = [rng.uniform(-1, 1) for _ in range(DIMS)]
        tag = "half" if n % 2 else "other"
        items.append({"agent_id": "a", "context": {"note": f"alpha {n}"}, "tags": [tag],
                      "embedding": vector})  # fmt: skip
    for start in range(0, len(items), 100):
        chunk = items[start : start + 100]
        response = await vclient.post("/v1/memories/batch", json={"items": chunk})
        assert response.status_code == 201, response.text
        for item, stored in zip(chunk, response.json()["items"], strict=True):
            vectors[stored["id"]] = item["embedding"]
            tags[stored["id"]] = item["tags"][0]
    by_distance = sorted(vectors, key=lambda i: (-cosine(vectors[i], Q), i))
    expired = set(by_distance[:40])
    db_conn.execute(
        "UPDATE memories SET expires_at = now() - interval '1 second' WHERE id = ANY(%s::uuid[])",
        (list(expired),),
    )
    live = [i for i in by_distance if i not in expired]
    for body, expected in [
        ({"vector": Q, "limit": 10}, live[:10]),
        ({"vector": Q, "limit": 10, "tags": ["half"]}, [i for i in live if tags[i] == "half"][:10]),
        ({"vector": Q, "limit": 10, "agent_id": "a", "min_importance": 0.5}, live[:10]),
        ({"vector": Q, "limit": 10, "min_score": -1}, live[:10]),
    ]:
        response = await vclient.post("/v1/memories/query", json=body)
        got = response.json()["items"]
        assert [m["id"] for m in got] == expected, body
        for m in got:
            assert m["score"] == pytest.approx(cosine(vectors[m["id"]], Q), abs=1e-6)
    for body in [
        {"vector": Q, "text": "alpha", "limit": 50},
        {"vector": Q, "text": "alpha", "limit": 50, "tags": ["half"]},
    ]:
        got = await ids_of(vclient, body)
        assert len(got) == 50 and not expired & set(got), body
    # all of it, page by page: every live memory once, no expired one
    seen: list[str] = []
    cursor = None
    while True:
        page = (
            await vclient.post(
                "/v1/memories/query",
                json={"vector": Q, "limit": 37, **({"cursor": cursor} if cursor else {})},
            )
        ).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == live


@pytest.mark.parametrize(
    "extra", [{}, {"tags": ["t"]}, {"agent_id": "a", "min_score": 0.0}], ids=["all", "tag", "agent"]
)
async def test_a_cursor_page_after_expiry_has_no_expired_memory(
    vclient: AsyncTestClient, extra: dict[str, Any]
) -> None:
    """Six memories at 10..60 degrees from the query, the 2nd and the 5th brief; pages of 3.
    Both pages are cached before they expire; after, neither page (the second by the cursor
    the first gave) holds them, and the memories themselves are 404."""
    ids, brief = [], []
    for n in range(1, 7):
        ttl = {"ttl_seconds": 1} if n in (2, 5) else {}
        ids.append(await store(vclient, at(10 * n), tags=["t"], **ttl))
        if ttl:
            brief.append(ids[-1])
    expires_at = (await vclient.get(f"/v1/memories/{brief[-1]}")).json()["expires_at"]
    body = {"vector": Q, "limit": 3, **extra}
    first = (await vclient.post("/v1/memories/query", json=body)).json()
    assert [m["id"] for m in first["items"]] == ids[:3]
    after_third = first["next_cursor"]
    assert after_third
    for _ in range(2):
        second = await vclient.post("/v1/memories/query", json={**body, "cursor": after_third})
    assert second.headers["X-Brain-Cache"] == "hit"
    assert [m["id"] for m in second.json()["items"]] == ids[3:]
    for memory_id in brief:
        for _ in range(2):
            got = await vclient.get(f"/v1/memories/{memory_id}")
        assert got.status_code == 200 and got.headers["X-Brain-Cache"] == "hit"

    await until_expired(expires_at)

    first = (await vclient.post("/v1/memories/query", json=body)).json()
    assert [m["id"] for m in first["items"]] == [ids[0], ids[2], ids[3]]
    second = await vclient.post("/v1/memories/query", json={**body, "cursor": after_third})
    assert second.status_code == 200, second.text
    assert second.headers["X-Brain-Cache"] == "miss"
    assert [m["id"] for m in second.json()["items"]] == [ids[3], ids[5]]
    assert second.json()["next_cursor"] is None
    # the hybrid ranking's pages too (fused ranks move as rows expire: only absence is promised)
    hybrid = {**body, "text": "alpha"}
    cursor, seen = None, []
    while True:
        page = (
            await vclient.post(
                "/v1/memories/query", json={**hybrid, **({"cursor": cursor} if cursor else {})}
            )
        ).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(i for i in ids if i not in brief)
    for memory_id in brief:
        assert (await vclient.get(f"/v1/memories/{memory_id}")).status_code == 404


async def test_a_hybrid_cursor_page_cached_before_expiry_is_not_served_after(
    vclient: AsyncTestClient,
) -> None:
    """Words rank as meaning does (fewer `alpha`s further away): the fused order is the order
    by meaning, and the brief 5th memory is on the cached second page."""
    ids = [
        await store(
            vclient,
            at(10 * n),
            context={"note": " ".join(["alpha"] * (6 - n))},
            ttl_seconds=1 if n == 4 else None,
        )
        for n in range(6)
    ]
    body = {"vector": Q, "text": "alpha", "limit": 3}
    first = (await vclient.post("/v1/memories/query", json=body)).json()
    assert [m["id"] for m in first["items"]] == ids[:3]
    cursor = first["next_cursor"]
    for _ in range(2):
        second = await vclient.post("/v1/memories/query", json={**body, "cursor": cursor})
    assert second.headers["X-Brain-Cache"] == "hit"
    assert ids[4] in [m["id"] for m in second.json()["items"]]
    expires_at = (await vclient.get(f"/v1/memories/{ids[4]}")).json()["expires_at"]

    await until_expired(expires_at)

    second = await vclient.post("/v1/memories/query", json={**body, "cursor": cursor})
    assert second.status_code == 200 and second.headers["X-Brain-Cache"] == "miss"
    assert ids[4] not in [m["id"] for m in second.json()["items"]]


async def test_semantic_queries_forget_an_expired_memory(local: AsyncTestClient) -> None:
    """With the local model: `semantic` alone and with `text`, cached, then the memory expires."""
    keep = await local.post(
        "/v1/memories",
        json={"agent_id": "a", "context": {"note": "Globex renews its contract in March"}},
    )
    brief = await local.post(
        "/v1/memories",
        json={"agent_id": "a", "context": {"note": "Acme prefers email, never calls before ten"},
              "ttl_seconds": 1},
    )  # fmt: skip
    assert keep.status_code == brief.status_code == 201
    question = "How does Acme like to be contacted?"
    bodies = [
        {"semantic": question},
        {"semantic": question, "agent_id": "a", "min_score": -1},
        {"semantic": question, "text": "Acme"},
        {"semantic": question, "text": "Acme", "agent_id": "a"},
    ]
    for body in bodies:
        for _ in range(2):
            response = await local.post("/v1/memories/query", json=body)
        assert response.headers["X-Brain-Cache"] == "hit", body
        assert response.json()["items"][0]["id"] == brief.json()["id"], body

    await until_expired(brief.json()["expires_at"])

    for body in bodies:
        got = await ids_of(local, body)
        assert brief.json()["id"] not in got, body
    assert await ids_of(local, bodies[0]) == [keep.json()["id"]]
    # "Acme" was the brief one's word alone: what is left is the ranking by meaning
    assert await ids_of(local, bodies[2]) == [keep.json()["id"]]


async def test_dedupe_never_answers_with_an_expired_memory(vclient: AsyncTestClient) -> None:
    memory = {"agent_id": "a", "context": {"note": "alpha"}, "embedding": at(0)}
    brief = await vclient.post("/v1/memories", json={**memory, "ttl_seconds": 1})
    assert brief.status_code == 201
    deduped = {**memory, "dedupe": {"threshold": 0.99}}
    before = await vclient.post("/v1/memories", json=deduped)
    assert before.status_code == 200 and before.json()["duplicate_of"] == brief.json()["id"]

    await until_expired(brief.json()["expires_at"])

    after = await vclient.post("/v1/memories", json=deduped)
    assert after.status_code == 201, after.text
    assert "duplicate_of" not in after.json() and after.json()["id"] != brief.json()["id"]
    assert await ids_of(vclient, {"vector": Q}) == [after.json()["id"]]


# -- G7: workspaces -------------------------------------------------------------------------------


async def test_a_workspace_never_ranks_another_workspaces_rows(vclient: AsyncTestClient) -> None:
    """B holds the very vectors and words A queries with, and B's identical queries are cached
    first: A's answers (by key and by the admin token's header) hold A's rows only."""
    await workspace(vclient, "wa")
    await workspace(vclient, "wb")
    a_key = bearer(await key(vclient, "wa"))
    in_b = {"X-Brain-Workspace": "wb"}
    b_ids = set()
    for n in range(5):
        response = await vclient.post(
            "/v1/memories",
            json={"agent_id": "a", "context": {"note": "alpha secret of b"}, "tags": ["t"],
                  "embedding": at(n)},
            headers=in_b,
        )  # fmt: skip
        assert response.status_code == 201
        b_ids.add(response.json()["id"])
    bodies = [
        {"vector": Q},
        {"vector": Q, "min_score": -1, "limit": 100},
        {"vector": Q, "tags": ["t"], "agent_id": "a"},
        {"vector": Q, "text": "alpha"},
        {"vector": Q, "text": "alpha secret", "min_score": 0},
    ]
    for body in bodies:  # B's answers are cached; A asks the same
        for _ in range(2):
            response = await vclient.post("/v1/memories/query", json=body, headers=in_b)
        assert response.headers["X-Brain-Cache"] == "hit"
        assert set(m["id"] for m in response.json()["items"]) <= b_ids
        assert response.json()["items"]
    for headers in (a_key, {"X-Brain-Workspace": "wa"}):
        for body in bodies:
            response = await vclient.post("/v1/memories/query", json=body, headers=headers)
            assert response.status_code == 200
            assert response.json() == {"items": [], "next_cursor": None}, body
    a_ids = set()
    for n in range(3):
        response = await vclient.post(
            "/v1/memories",
            json={"agent_id": "a", "context": {"note": "alpha of a"}, "tags": ["t"],
                  "embedding": at(n)},
            headers=a_key,
        )  # fmt: skip
        assert response.status_code == 201
        a_ids.add(response.json()["id"])
    for headers in (a_key, {"X-Brain-Workspace": "wa"}):
        for body in bodies:
            got = await ids_of(vclient, body, headers)
            assert set(got) == a_ids, body
    # and the default workspace (the admin token without a header) sees neither
    for body in bodies:
        assert await ids_of(vclient, body) == []


async def test_ranked_cursors_are_bound_to_their_workspace_and_query(
    vclient: AsyncTestClient,
) -> None:
    await workspace(vclient, "wa")
    await workspace(vclient, "wb")
    for headers in ({"X-Brain-Workspace": "wa"}, {"X-Brain-Workspace": "wb"}):
        for n in range(4):
            response = await vclient.post(
                "/v1/memories",
                json={"agent_id": "a", "context": {"note": "alpha"}, "embedding": at(n)},
                headers=headers,
            )
            assert response.status_code == 201
    a, b = {"X-Brain-Workspace": "wa"}, {"X-Brain-Workspace": "wb"}
    plain = {"limit": 1}
    semantic = {"vector": Q, "limit": 1}
    hybrid = {"vector": Q, "text": "alpha", "limit": 1}
    cursors = {}
    for name, body in {"plain": plain, "semantic": semantic, "hybrid": hybrid}.items():
        page = (await vclient.post("/v1/memories/query", json=body, headers=b)).json()
        assert page["next_cursor"], name
        cursors[name] = page["next_cursor"]
        # B's own next page takes it
        nxt = await vclient.post(
            "/v1/memories/query", json={**body, "cursor": page["next_cursor"]}, headers=b
        )
        assert nxt.status_code == 200, nxt.text
    refused = [
        (a, semantic, "semantic"),  # B's cursor, A's workspace, the same query
        (a, hybrid, "hybrid"),
        (b, plain, "semantic"),  # a ranked cursor for an ordinary query
        (b, semantic, "plain"),  # and the other way round
        (b, hybrid, "semantic"),  # a cursor of the ranking by meaning for the hybrid one
        (b, semantic, "hybrid"),
        (b, {**semantic, "vector": at(5)}, "semantic"),  # another vector
        (b, {**semantic, "min_score": 0.1}, "semantic"),
        (b, {**semantic, "tags": ["t"]}, "semantic"),
        (b, {**hybrid, "text": "beta"}, "hybrid"),
    ]
    for headers, body, name in refused:
        response = await vclient.post(
            "/v1/memories/query", json={**body, "cursor": cursors[name]}, headers=headers
        )
        assert response.status_code == 422, (headers, body, name, response.text)
        assert response.json()["errors"][0]["field"] == "cursor"


async def test_dedupe_never_finds_a_duplicate_in_another_workspace(
    vclient: AsyncTestClient,
) -> None:
    await workspace(vclient, "wa")
    await workspace(vclient, "wb")
    memory = {"agent_id": "a", "context": {"note": "alpha"}, "embedding": at(0)}
    first = await vclient.post("/v1/memories", json=memory, headers={"X-Brain-Workspace": "wb"})
    assert first.status_code == 201
    deduped = {**memory, "dedupe": {"threshold": 0.99}}
    in_a = await vclient.post("/v1/memories", json=deduped, headers={"X-Brain-Workspace": "wa"})
    assert in_a.status_code == 201, in_a.text
    assert "duplicate_of" not in in_a.json()
    again = await vclient.post("/v1/memories", json=deduped, headers={"X-Brain-Workspace": "wa"})
    assert again.status_code == 200 and again.json()["duplicate_of"] == in_a.json()["id"]


async def test_semantic_queries_stay_in_their_workspace(local: AsyncTestClient) -> None:
    await workspace(local, "wa")
    await workspace(local, "wb")
    note = {"agent_id": "a", "context": {"note": "Acme prefers email, never calls before ten"}}
    b = await local.post("/v1/memories", json=note, headers={"X-Brain-Workspace": "wb"})
    assert b.status_code == 201
    question = {"semantic": "How does Acme like to be contacted?", "min_score": -1}
    for _ in range(2):
        in_b = await local.post(
            "/v1/memories/query", json=question, headers={"X-Brain-Workspace": "wb"}
        )
    assert [m["id"] for m in in_b.json()["items"]] == [b.json()["id"]]
    a_key = bearer(await key(local, "wa"))
    for body in (question, {**question, "text": "Acme"}):
        assert await ids_of(local, body, a_key) == []
    a = await local.post("/v1/memories", json=note, headers=a_key)
    for body in (question, {**question, "text": "Acme"}):
        assert await ids_of(local, body, a_key) == [a.json()["id"]]


# -- one embedding space --------------------------------------------------------------------------


def plant_other_space(conn: psycopg.Connection, vector: list[float], note: str) -> str:
    """A row whose vector another model made (as the owner, bypassing the API)."""
    row = conn.execute(
        "INSERT INTO memories (workspace, id, agent_id, context, tags, embedding, embedding_space)"
        " VALUES ('default', gen_random_uuid(), 'a', jsonb_build_object('note', %s::text),"
        " '{t}', %s::vector, %s) RETURNING id",
        (note, str(vector), OTHER_SPACE),
    ).fetchone()
    assert row is not None
    return str(row[0])


async def test_rows_of_another_space_are_never_ranked_by_meaning(
    vclient: AsyncTestClient, db_conn: psycopg.Connection
) -> None:
    """Rows of another space with the very vectors of the query: no query by meaning returns
    them; a hybrid query finds them by words alone (their score: the words' rank only), as it
    finds a memory without a vector."""
    mine = [await store(vclient, at(10 * n), tags=["t"]) for n in range(1, 4)]
    other = [plant_other_space(db_conn, at(0), "beta"), plant_other_space(db_conn, Q, "beta")]
    for body in [
        {"vector": Q},
        {"vector": Q, "min_score": -1, "limit": 100},
        {"vector": Q, "tags": ["t"], "agent_id": "a"},
        {"vector": Q, "min_score": 0.99},
    ]:
        got = await ids_of(vclient, body)
        assert not set(got) & set(other), body
        if "min_score" in body and body["min_score"] == 0.99:
            assert got == []
        else:
            assert got == mine, body
    # hybrid: `beta` matches only the other space's rows; they rank by words, never by meaning
    response = await vclient.post("/v1/memories/query", json={"vector": Q, "text": "beta"})
    items = response.json()["items"]
    by_id = {m["id"]: m["score"] for m in items}
    assert set(by_id) == set(mine) | set(other)
    assert [by_id[i] for i in mine] == pytest.approx([1 / 61, 1 / 62, 1 / 63], abs=1e-12)
    assert sorted(by_id[i] for i in other) == pytest.approx([1 / 62, 1 / 61], abs=1e-12)


async def test_an_app_of_another_space_sees_only_its_own_rows_and_cache(
    vclient: AsyncTestClient, database_url: str, redis_url: str, db_conn: psycopg.Connection
) -> None:
    """Two apps over one database and one Redis, of two spaces of one dimension: each ranks
    its space's rows only, never serves the other's cached answer, and refuses its cursors."""
    mine = [await store(vclient, at(10 * n)) for n in range(3)]
    other = [plant_other_space(db_conn, at(10 * n), "alpha") for n in range(3)]
    body = {"vector": Q, "limit": 2}
    for _ in range(2):
        response = await vclient.post("/v1/memories/query", json=body)
    assert response.headers["X-Brain-Cache"] == "hit"
    assert [m["id"] for m in response.json()["items"]] == mine[:2]
    cursor = response.json()["next_cursor"]
    assert cursor
    async with client_for(database_url, redis_url, embeddings_model="other-model") as them:
        response = await them.post("/v1/memories/query", json=body)
        assert response.headers["X-Brain-Cache"] == "miss"
        assert [m["id"] for m in response.json()["items"]] == other[:2]
        refused = await them.post("/v1/memories/query", json={**body, "cursor": cursor})
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "cursor"
        got = await ids_of(them, {"vector": Q, "min_score": -1, "limit": 100})
        assert got == other
    assert await ids_of(vclient, {"vector": Q, "min_score": -1, "limit": 100}) == mine
