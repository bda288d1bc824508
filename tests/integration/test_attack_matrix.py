"""G7's attack matrix: every /v1 route, with every wrong credential, and with a key of workspace
A aimed at workspace B's ids, queries, cursors, idempotency keys, Last-Event-ID and ack ids.

B holds unique marker strings in every field it can; no answer to A may hold one of them, and
B's data must be exactly as it was afterwards. The app takes client vectors (3 dimensions): B's
memories have vectors, and A ranks by the very same ones (`vector`, hybrid with `text`,
`min_score` that admits everything) and pages with B's ranked cursors."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from brain.settings import Settings
from tests.support import api
from tests.support.api import AUTH
from tests.support.tenancy import ALL_SCOPES, bearer, key, workspace

MARK = "zqxB" + uuid.uuid4().hex[:12]
"""In every one of B's names, contexts, tags and keys: seen in an answer to A, it leaked."""
B = {"X-Brain-Workspace": "wb"}
SINCE = "2020-01-01T00:00:00Z"
VECTORS = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.6, 0.8, 0.0]]
"""B's memories' vectors; A queries with them."""


@pytest.fixture
def settings(database_url: str, redis_url: str) -> Settings:
    """Client vectors of 3 dimensions (the `test-vectors/3` space of the tests' template), so
    that ranked queries are admitted and reach the database."""
    return api.settings(
        database_url, redis_url, embeddings="none", embeddings_model="test-vectors",
        embeddings_dimensions=3,
    )  # fmt: skip


async def plant_b(client: AsyncTestClient) -> dict[str, Any]:
    """B's data, with MARK everywhere; what A will aim at."""
    agent, peer = f"{MARK}-agent", f"{MARK}-peer"
    for name in (agent, peer):
        response = await client.put(f"/v1/agents/{name}", json={"name": MARK}, headers=B)
        assert response.status_code == 201
    memories = []
    for n in range(3):
        stored = await client.post(
            "/v1/memories",
            json={
                "agent_id": agent,
                "context": {"secret": f"{MARK} {n}"},
                "tags": [MARK],
                "embedding": VECTORS[n],
            },
            headers={**B, "Idempotency-Key": f"{MARK}-idem-{n}"},
        )
        assert stored.status_code == 201
        memories.append(stored.json()["id"])
    messages = []
    for n in range(3):
        sent = await client.post(
            "/v1/messages",
            json={"from_agent": peer, "to_agent": agent, "context": {"secret": MARK}},
            headers={**B, "Idempotency-Key": f"{MARK}-msg-{n}"},
        )
        assert sent.status_code == 201
        messages.append(sent.json()["id"])
        back = await client.post(
            "/v1/messages", json={"from_agent": agent, "to_agent": peer, "context": {}}, headers=B
        )
        assert back.status_code == 201
    cursors = {
        "query": (await client.post("/v1/memories/query", json={"limit": 1}, headers=B)).json(),
        "ranked": (
            await client.post("/v1/memories/query", json=RANKED | {"limit": 1}, headers=B)
        ).json(),
        "hybrid": (
            await client.post("/v1/memories/query", json=HYBRID | {"limit": 1}, headers=B)
        ).json(),
        "agent_memories": (
            await client.get(f"/v1/agents/{agent}/memories?limit=1", headers=B)
        ).json(),
        "history": (
            await client.get(f"/v1/messages/history?agent={agent}&peer={peer}&limit=1", headers=B)
        ).json(),
        "replay": (
            await client.get(f"/v1/agents/{agent}/messages/replay?since={SINCE}&limit=1", headers=B)
        ).json(),
    }
    made = await key(client, "wb", name=MARK)
    await client.post("/v1/admin/cleanup", headers=B)  # an audit entry
    cursors["audit"] = (await client.get("/v1/audit?limit=1", headers=B)).json()
    for name, page in cursors.items():
        assert page["next_cursor"], name
    return {
        "agent": agent, "peer": peer, "memories": memories, "messages": messages,
        "cursors": {name: page["next_cursor"] for name, page in cursors.items()},
        "key": made,
    }  # fmt: skip


async def snapshot_b(client: AsyncTestClient, b: dict[str, Any]) -> dict[str, Any]:
    """B as its admin sees it (not through the routes under attack alone); the cache's figures
    and the outbox backlog (appends are marked in the background) are not B's data."""
    stats = (await client.get("/v1/stats", headers=B)).json()
    stats["messages"].pop("outbox_backlog")
    replay = await client.get(
        f"/v1/agents/{b['agent']}/messages/replay?since={SINCE}&limit=100", headers=B
    )
    return {
        "agents": (await client.get("/v1/agents", headers=B)).json(),
        "memories": (
            await client.post("/v1/memories/query", json={"limit": 100}, headers=B)
        ).json()["items"],
        "replay": replay.json()["items"],
        "keys": [k["id"] for k in (await client.get("/v1/workspaces/wb/keys")).json()["items"]],
        "stats": {k: v for k, v in stats.items() if k != "cache"},
    }


RANKED = {"vector": VECTORS[0]}
HYBRID = {"vector": VECTORS[0], "text": MARK}


def routes(b: dict[str, Any], own_agent: str) -> list[dict[str, Any]]:
    """Every /v1 operation, aimed at B's ids with A's key: the status A must get. Last, what
    gives A an agent of B's name (its own, from then on) and what clears A."""
    agent, memory, message = b["agent"], b["memories"][0], b["messages"][0]
    c = b["cursors"]
    idem = {"Idempotency-Key": f"{MARK}-idem-0"}
    return [
        {"op": "list_agents", "method": "GET", "path": "/v1/agents", "status": 200},
        {"op": "get_agent", "method": "GET", "path": f"/v1/agents/{b['peer']}", "status": 404},
        {
            "op": "unregister_agent",
            "method": "DELETE",
            "path": f"/v1/agents/{b['peer']}",
            "status": 404,
        },
        {
            "op": "export_agent",
            "method": "GET",
            "path": f"/v1/agents/{b['peer']}/export",
            "status": 404,
        },
        {
            "op": "list_agent_memories",
            "method": "GET",
            "path": f"/v1/agents/{agent}/memories",
            "status": 200,
        },
        {
            "op": "list_agent_memories",
            "method": "GET",
            "path": f"/v1/agents/{agent}/memories?cursor={c['agent_memories']}",
            "status": 422,
        },
        {
            "op": "store_memory",
            "method": "POST",
            "path": "/v1/memories",
            "headers": idem,
            "json": {"agent_id": own_agent, "context": {"a": 1}},
            "status": 201,
        },
        {
            "op": "store_memories",
            "method": "POST",
            "path": "/v1/memories/batch",
            "headers": {"Idempotency-Key": f"{MARK}-idem-1"},
            "json": {"items": [{"agent_id": own_agent, "context": {"a": 2}}]},
            "status": 201,
        },
        {"op": "get_memory", "method": "GET", "path": f"/v1/memories/{memory}", "status": 404},
        {
            "op": "delete_memory",
            "method": "DELETE",
            "path": f"/v1/memories/{memory}",
            "status": 404,
        },
        {
            "op": "query_memories",
            "method": "POST",
            "path": "/v1/memories/query",
            "json": {"text": MARK},
            "status": 200,
        },
        {
            "op": "query_memories",
            "method": "POST",
            "path": "/v1/memories/query",
            "json": {"tags": [MARK], "agent_id": agent},
            "status": 200,
        },
        {
            "op": "query_memories",
            "method": "POST",
            "path": "/v1/memories/query",
            "json": {"limit": 1, "cursor": c["query"]},
            "status": 422,
        },
        *ranked_queries(b),
        {
            "op": "share_message",
            "method": "POST",
            "path": "/v1/messages",
            "headers": {"Idempotency-Key": f"{MARK}-msg-0"},
            "json": {"from_agent": own_agent, "to_agent": b["peer"], "context": {}},
            "status": 404,
        },
        {
            "op": "broadcast_message",
            "method": "POST",
            "path": "/v1/messages/broadcast",
            "json": {"from_agent": b["peer"], "context": {}},
            "status": 404,
        },
        {
            "op": "take_messages",
            "method": "GET",
            "path": f"/v1/agents/{agent}/messages?limit=100",
            "status": 200,
        },
        {
            "op": "ack_messages",
            "method": "POST",
            "path": f"/v1/agents/{agent}/messages/ack",
            "json": {"ids": b["messages"]},
            "status": 200,
        },
        {
            "op": "stream_messages",
            "method": "GET",
            "path": f"/v1/agents/{agent}/messages/stream",
            "headers": {"Last-Event-ID": message},
            "status": 200,
            "stream": True,
        },
        {
            "op": "message_history",
            "method": "GET",
            "path": f"/v1/messages/history?agent={agent}&peer={b['peer']}",
            "status": 200,
        },
        {
            "op": "message_history",
            "method": "GET",
            "path": f"/v1/messages/history?agent={agent}&peer={b['peer']}&cursor={c['history']}",
            "status": 422,
        },
        {
            "op": "replay_messages",
            "method": "GET",
            "path": f"/v1/agents/{agent}/messages/replay?since={SINCE}",
            "status": 200,
        },
        {
            "op": "replay_messages",
            "method": "GET",
            "path": f"/v1/agents/{agent}/messages/replay?since={SINCE}&cursor={c['replay']}",
            "status": 422,
        },
        {"op": "stats", "method": "GET", "path": "/v1/stats", "status": 200},
        {"op": "cleanup", "method": "POST", "path": "/v1/admin/cleanup", "status": 200},
        {"op": "audit_log", "method": "GET", "path": "/v1/audit", "status": 200},
        {
            "op": "audit_log",
            "method": "GET",
            "path": f"/v1/audit?cursor={c['audit']}",
            "status": 422,
        },
        {
            "op": "create_workspace",
            "method": "POST",
            "path": "/v1/workspaces",
            "json": {"id": "wc"},
            "status": 403,
        },
        {"op": "list_workspaces", "method": "GET", "path": "/v1/workspaces", "status": 403},
        {
            "op": "delete_workspace",
            "method": "DELETE",
            "path": "/v1/workspaces/wb?confirm=wb",
            "status": 403,
        },
        {
            "op": "create_key",
            "method": "POST",
            "path": "/v1/workspaces/wb/keys",
            "json": {"name": "x", "scopes": ["admin"]},
            "status": 404,
        },
        {"op": "list_keys", "method": "GET", "path": "/v1/workspaces/wb/keys", "status": 404},
        {
            "op": "revoke_key",
            "method": "DELETE",
            "path": f"/v1/workspaces/wb/keys/{b['key']['id']}",
            "status": 404,
        },
        {
            "op": "revoke_key",
            "method": "DELETE",
            "path": f"/v1/workspaces/wa/keys/{b['key']['id']}",
            "status": 404,
        },
        {
            "op": "register_agent",
            "method": "PUT",
            "path": f"/v1/agents/{agent}",
            "json": {},
            "status": 201,
        },
        {
            "op": "clear",
            "method": "POST",
            "path": "/v1/admin/clear",
            "json": {"confirm": "delete all data"},
            "status": 204,
        },
    ]


def ranked_queries(b: dict[str, Any]) -> list[dict[str, Any]]:
    """Queries by meaning with A's key: B's very vectors and words, a `min_score` that admits
    every row, B's ranked cursors (and ranked and ordinary cursors swapped)."""
    agent, c = b["agent"], b["cursors"]
    bodies = [  # (body, status, whether A's own memories of the same vectors answer it)
        (RANKED, 200, True),  # B's very vectors
        ({"vector": VECTORS[2], "min_score": -1, "limit": 100}, 200, True),  # every row it sees
        ({"vector": VECTORS[1], "tags": [MARK], "agent_id": agent}, 200, False),
        (HYBRID, 200, True),
        (HYBRID | {"agent_ids": [agent, b["peer"]], "min_score": 0}, 200, False),
        ({"semantic": MARK}, 422, False),  # no model here: refused before anything is read
        (RANKED | {"limit": 1, "cursor": c["ranked"]}, 422, False),
        (HYBRID | {"limit": 1, "cursor": c["hybrid"]}, 422, False),
        ({"limit": 1, "cursor": c["ranked"]}, 422, False),
        (RANKED | {"limit": 1, "cursor": c["query"]}, 422, False),
    ]
    return [
        {"op": "query_memories", "method": "POST", "path": "/v1/memories/query", "json": body,
         "status": status, "own": own}
        for body, status, own in bodies
    ]  # fmt: skip


def _sent(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _sent(v)]
    if isinstance(value, list):
        return [x for v in value for x in _sent(v)]
    return [str(value)]


def scrub(text: str, route: dict[str, Any]) -> str:
    """The answer without what A itself sent (an error may repeat a path or a field's value):
    whatever of MARK is left came from B's data."""
    path, _, query = route["path"].partition("?")
    echoed = [route["path"], path, *path.split("/"), *query.replace("=", "&").split("&")]
    echoed += _sent(route.get("json")) + _sent(route.get("headers", {}))
    for value in sorted((v for v in echoed if MARK in v), key=len, reverse=True):
        text = text.replace(value, "<sent>")
    return text


async def call(
    client: AsyncTestClient, route: dict[str, Any], headers: dict[str, str]
) -> tuple[int, str]:
    """The status and everything the answer says (headers and body), without A's own echo."""
    status, text = await _call(client, route, headers)
    return status, scrub(text, route)


async def _call(
    client: AsyncTestClient, route: dict[str, Any], headers: dict[str, str]
) -> tuple[int, str]:
    merged = {**route.get("headers", {}), **headers}
    response = await client.request(
        route["method"], route["path"], json=route.get("json"), headers=merged
    )
    return response.status_code, response.text + str(response.headers)


async def test_the_attack_matrix(client: AsyncTestClient) -> None:
    await workspace(client, "wa")
    await workspace(client, "wb")
    b = await plant_b(client)
    before = await snapshot_b(client, b)
    own = "a-agent"
    await client.put(f"/v1/agents/{own}", json={}, headers={**AUTH, "X-Brain-Workspace": "wa"})
    mine = set()  # A's memories, of B's very vectors: what A's ranked queries must find instead
    for vector in VECTORS:
        stored = await client.post(
            "/v1/memories",
            json={"agent_id": own, "context": {"note": "of a"}, "embedding": vector},
            headers={**AUTH, "X-Brain-Workspace": "wa"},
        )
        assert stored.status_code == 201
        mine.add(stored.json()["id"])
    a_key = bearer(await key(client, "wa"))
    revoked = await key(client, "wa")
    assert (
        await client.delete(f"/v1/workspaces/wa/keys/{revoked['id']}", headers=AUTH)
    ).status_code == 204
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).isoformat()
    expired = await key(client, "wa", expires_at=soon)
    bound = bearer(await key(client, "wa", ALL_SCOPES, agent_id=own))
    matrix = routes(b, own)
    documented = {
        operation["operationId"]
        for path, item in (await client.get("/schema/openapi.json")).json()["paths"].items()
        if path.startswith("/v1/")
        for operation in item.values()
    }
    assert {r["op"] for r in matrix} == documented  # a new route joins the matrix
    await asyncio.sleep(1.1)  # `expired` expires
    client.headers.pop("Authorization")  # from here on, each call says who it is
    unknown_key = "brk_wa_" + "A" * 40
    refused = {
        "no key": {},
        "wrong key": {"Authorization": "Bearer not-a-key"},
        "unknown key": {"Authorization": f"Bearer {unknown_key}"},
        "revoked key": bearer(revoked),
        "expired key": bearer(expired),
        "B's secret edited": {"Authorization": "Bearer " + b["key"]["secret"][:-1] + "#"},
    }
    checked = 0
    for route in matrix:
        for name, headers in refused.items():
            status, text = await call(client, route, headers)
            assert status == 401, (name, route["op"], route["path"], text)
            assert MARK not in text, (name, route["op"])
            checked += 1
        # A's key pointed at B's workspace by header
        status, text = await call(client, route, {**a_key, "X-Brain-Workspace": "wb"})
        assert status == 403 and MARK not in text, (route["op"], status, text)
        # a key of A without the scope the route needs
        needed = _needed(route["op"])
        if needed in ALL_SCOPES:
            lacking = bearer(await key(client, "wa", [s for s in ALL_SCOPES if s != needed]))
            status, text = await call(client, route, lacking)
            assert status == 403, (route["op"], status, text)
            assert needed in text and MARK not in text, (route["op"], text)
        checked += 2
    # an agent-bound key of A acting as another agent (B's, by name)
    for route in matrix:
        if route["op"] in AS_AGENT:
            status, text = await call(client, route, bound)
            assert status == 403, (route["op"], status, text)
            assert MARK not in text, (route["op"], text)
            checked += 1
    # ranked queries of A with B's vectors find A's own memories of those vectors, and only them
    for route in matrix:
        if route.get("own"):
            response = await client.post(route["path"], json=route["json"], headers=a_key)
            got = {m["id"] for m in response.json()["items"]}
            assert got == mine, (route["json"], got)
            checked += 1
    # the full key of A, aimed at everything of B (an event stream that is admitted does not
    # end: tests/e2e/test_isolation.py reads one from a real server)
    for route in matrix:
        if route.get("stream"):
            continue
        status, text = await call(client, route, a_key)
        assert status == route["status"], (route["op"], route["path"], status, text)
        assert MARK not in text, (route["op"], text)
        checked += 1
    assert checked > 300
    client.headers.update(AUTH)
    after = await snapshot_b(client, b)
    assert after == before
    # and B's idempotency keys still replay B's own first answers
    first = {
        "agent_id": b["agent"], "context": {"secret": f"{MARK} 0"}, "tags": [MARK],
        "embedding": VECTORS[0],
    }  # fmt: skip
    replay = await client.post(
        "/v1/memories", json=first, headers={**B, "Idempotency-Key": f"{MARK}-idem-0"}
    )
    assert replay.status_code == 201 and replay.json()["id"] == b["memories"][0]


def _needed(op: str) -> str:
    from brain import app
    from brain.settings import Settings

    for route in app.create_app(Settings(admin_token="x")).routes:
        for handler in getattr(route, "route_handlers", []):
            if handler.operation_id == op:
                return str(handler.opt.get("scope"))
    raise AssertionError(op)


AS_AGENT = {
    "register_agent", "unregister_agent", "take_messages", "ack_messages", "stream_messages",
    "replay_messages", "message_history", "broadcast_message",
}  # fmt: skip
"""The operations that name an agent to act as, aimed at B's agent (`store_memory` and
`share_message` name A's own agent in the matrix, so they are covered in test_workspaces)."""
