"""Workspaces and API keys (G7): the API's shapes and rules, key by key."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re

import psycopg
from litestar.testing import AsyncTestClient

from tests.support.tenancy import ALL_SCOPES, bearer, key, workspace

SECRET = re.compile(r"^brk_acme_[A-Za-z0-9]{40}$")


async def test_workspaces_are_created_listed_and_named(client: AsyncTestClient) -> None:
    made = await client.post("/v1/workspaces", json={"id": "acme", "name": "Acme support"})
    assert made.status_code == 201, made.text
    assert made.json()["id"] == "acme" and made.json()["name"] == "Acme support"
    assert set(made.json()) == {"id", "name", "created_at"}
    again = await client.post("/v1/workspaces", json={"id": "acme"})
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "id"
    assert (await client.post("/v1/workspaces", json={"id": "bad id"})).status_code == 422
    assert (await client.post("/v1/workspaces", json={"id": "*"})).status_code == 422
    assert (await client.post("/v1/workspaces", json={"id": "x" * 65})).status_code == 422
    await workspace(client, "beta")
    listed = (await client.get("/v1/workspaces")).json()
    assert [w["id"] for w in listed["items"]] == ["acme", "beta", "default"]
    assert listed["items"][1]["name"] == "beta"  # the id, when no name is given
    page = (await client.get("/v1/workspaces?limit=1&cursor=acme")).json()
    assert [w["id"] for w in page["items"]] == ["beta"] and page["next_cursor"] == "beta"


async def test_a_key_is_shown_once_and_stored_as_a_hash(
    client: AsyncTestClient, db_conn: psycopg.Connection
) -> None:
    await workspace(client, "acme")
    made = await key(
        client, "acme", ["memories:read"], name="reader", agent_id="sales",
        rate_limit={"per_second": 5, "burst": 10},
    )  # fmt: skip
    assert SECRET.match(made["secret"]), made["secret"]
    assert made["prefix"] == made["secret"][: len("brk_acme_") + 6]
    assert made["scopes"] == ["memories:read"] and made["agent_id"] == "sales"
    assert made["rate_limit"] == {"per_second": 5.0, "burst": 10}
    assert set(made) == {
        "id", "name", "scopes", "agent_id", "prefix", "created_at", "expires_at", "rate_limit",
        "secret",
    }  # fmt: skip
    listed = (await client.get("/v1/workspaces/acme/keys")).json()["items"]
    assert [k["id"] for k in listed] == [made["id"]]
    assert "secret" not in listed[0] and listed[0]["last_used_at"] is None
    stored = db_conn.execute("SELECT * FROM api_keys").fetchall()
    assert len(stored) == 1
    assert made["secret"].encode() not in b"".join(
        bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in stored[0]
    )
    # last_used_at follows use (to the minute, in the background)
    assert (await client.get("/v1/stats", headers=bearer(made))).status_code == 403
    await client.post("/v1/memories/query", json={}, headers=bearer(made))
    for _ in range(50):
        listed = (await client.get("/v1/workspaces/acme/keys")).json()["items"]
        if listed[0]["last_used_at"] is not None:
            break
        await asyncio.sleep(0.05)
    assert listed[0]["last_used_at"] is not None


async def test_bad_keys_are_refused_with_the_field(client: AsyncTestClient) -> None:
    await workspace(client, "acme")
    cases = [
        ({"name": "k", "scopes": []}, "scopes"),
        ({"name": "k", "scopes": ["memories:delete"]}, "scopes[0]"),
        ({"name": "", "scopes": ["admin"]}, "name"),
        ({"name": "k", "scopes": ["admin"], "agent_id": "bad id"}, "agent_id"),
        ({"name": "k", "scopes": ["admin"], "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "k", "scopes": ["admin"], "rate_limit": {"per_second": 0, "burst": 1}},
         "rate_limit.per_second"),
        ({"name": "k", "scopes": ["admin"], "rate_limit": {"per_second": 1, "burst": 0}},
         "rate_limit.burst"),
        ({"name": "k", "scopes": ["admin"], "secret": "mine"}, "secret"),
    ]  # fmt: skip
    for body, field in cases:
        response = await client.post("/v1/workspaces/acme/keys", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["field"] == field, (body, response.json())
    assert (await client.get("/v1/workspaces/acme/keys")).json()["items"] == []
    unknown = await client.post(
        "/v1/workspaces/nowhere/keys", json={"name": "k", "scopes": ["admin"]}
    )
    assert unknown.status_code == 404


async def test_revoked_and_expired_keys_are_refused(client: AsyncTestClient) -> None:
    await workspace(client, "acme")
    made = await key(client, "acme")
    assert (await client.get("/v1/agents", headers=bearer(made))).status_code == 200
    revoked = await client.delete(f"/v1/workspaces/acme/keys/{made['id']}")
    assert revoked.status_code == 204
    refused = await client.get("/v1/agents", headers=bearer(made))  # this process forgets at once
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    again = await client.delete(f"/v1/workspaces/acme/keys/{made['id']}")
    assert again.status_code == 404
    assert (await client.get("/v1/workspaces/acme/keys")).json()["items"] == []

    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)).isoformat()
    short = await key(client, "acme", expires_at=soon)
    assert (await client.get("/v1/agents", headers=bearer(short))).status_code == 200
    await asyncio.sleep(1.6)
    assert (await client.get("/v1/agents", headers=bearer(short))).status_code == 401
    # a secret of the right shape that no key has, and one edited by a character
    forged = short["secret"][:-1] + ("A" if short["secret"][-1] != "A" else "B")
    assert (
        await client.get("/v1/agents", headers={"Authorization": f"Bearer {forged}"})
    ).status_code == 401
    other = "brk_beta_" + short["secret"][-40:]  # the same random part, another workspace
    assert (
        await client.get("/v1/agents", headers={"Authorization": f"Bearer {other}"})
    ).status_code == 401


async def test_scopes_are_enforced_and_named(client: AsyncTestClient) -> None:
    await workspace(client, "acme")
    reader = bearer(await key(client, "acme", ["memories:read", "agents:read"]))
    assert (await client.post("/v1/memories/query", json={}, headers=reader)).status_code == 200
    assert (await client.get("/v1/agents", headers=reader)).status_code == 200
    for method, path, body, scope in [
        ("POST", "/v1/memories", {"agent_id": "a", "context": {}}, "memories:write"),
        ("PUT", "/v1/agents/a", {}, "agents:write"),
        ("POST", "/v1/messages", {"from_agent": "a", "to_agent": "b", "context": {}},
         "messages:write"),
        ("GET", "/v1/agents/a/messages", None, "messages:read"),
        ("GET", "/v1/stats", None, "admin"),
        ("POST", "/v1/admin/clear", {"confirm": "delete all data"}, "admin"),
        ("GET", "/v1/workspaces/acme/keys", None, "admin"),
        ("GET", "/v1/audit", None, "admin"),
        ("GET", "/v1/agents/a/export", None, "admin"),
    ]:  # fmt: skip
        response = await client.request(method, path, json=body, headers=reader)
        assert response.status_code == 403, (path, response.text)
        assert scope in response.json()["detail"], (path, response.json())
    for method, path in [("GET", "/v1/workspaces"), ("POST", "/v1/workspaces")]:
        admin_key = bearer(await key(client, "acme", ["admin"]))
        response = await client.request(method, path, json={"id": "x"}, headers=admin_key)
        assert response.status_code == 403, (method, path)  # the registry: admin token only
    assert (await client.get("/v1/workspaces")).status_code == 200


async def test_the_admin_token_works_where_x_brain_workspace_says(client: AsyncTestClient) -> None:
    await workspace(client, "acme")
    acme = {"X-Brain-Workspace": "acme"}
    stored = await client.post(
        "/v1/memories", json={"agent_id": "a", "context": {"n": 1}}, headers=acme
    )
    assert stored.status_code == 201
    memory_id = stored.json()["id"]
    assert (await client.get(f"/v1/memories/{memory_id}", headers=acme)).status_code == 200
    assert (await client.get(f"/v1/memories/{memory_id}")).status_code == 404  # not in default
    missing = await client.get("/v1/agents", headers={"X-Brain-Workspace": "nowhere"})
    assert missing.status_code == 404
    bad = await client.get("/v1/agents", headers={"X-Brain-Workspace": "bad id"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "X-Brain-Workspace"
    made = bearer(await key(client, "acme"))
    own = await client.get(f"/v1/memories/{memory_id}", headers={**made, **acme})
    assert own.status_code == 200  # a key naming its own workspace is fine
    other = await client.get("/v1/agents", headers={**made, "X-Brain-Workspace": "default"})
    assert other.status_code == 403 and other.json()["errors"][0]["field"] == "X-Brain-Workspace"


async def test_an_agent_bound_key_acts_as_its_agent_only(client: AsyncTestClient) -> None:
    await workspace(client, "acme")
    acme = {"X-Brain-Workspace": "acme"}
    for agent in ("sales", "support"):
        assert (await client.put(f"/v1/agents/{agent}", json={}, headers=acme)).status_code == 201
    theirs = await client.post(
        "/v1/memories", json={"agent_id": "support", "context": {"t": "theirs"}}, headers=acme
    )
    sales = bearer(await key(client, "acme", ALL_SCOPES[:-1], agent_id="sales"))

    async def refused(method: str, path: str, body: object, field: str) -> None:
        response = await client.request(method, path, json=body, headers=sales)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["errors"][0]["field"] == field, (path, response.json())

    await refused("POST", "/v1/memories", {"agent_id": "support", "context": {}}, "agent_id")
    await refused(
        "POST", "/v1/memories/batch",
        {"items": [{"agent_id": "sales", "context": {}}, {"agent_id": "support", "context": {}}]},
        "items[1].agent_id",
    )  # fmt: skip
    await refused(
        "POST",
        "/v1/messages",
        {"from_agent": "support", "to_agent": "sales", "context": {}},
        "from_agent",
    )
    await refused(
        "POST", "/v1/messages/broadcast", {"from_agent": "support", "context": {}}, "from_agent"
    )
    await refused("GET", "/v1/agents/support/messages", None, "agent_id")
    await refused("GET", "/v1/agents/support/messages/stream", None, "agent_id")
    await refused(
        "POST", "/v1/agents/support/messages/ack", {"ids": [theirs.json()["id"]]}, "agent_id"
    )
    await refused(
        "GET", "/v1/agents/support/messages/replay?since=2026-01-01T00:00:00Z", None, "agent_id"
    )
    await refused("GET", "/v1/messages/history?agent=support&peer=ops", None, "agent")
    await refused("PUT", "/v1/agents/support", {}, "agent_id")
    await refused("DELETE", "/v1/agents/support", None, "agent_id")
    await refused("DELETE", f"/v1/memories/{theirs.json()['id']}", None, "memory_id")
    # and what it may do: as itself, and read what the team knows
    ok = [
        ("POST", "/v1/memories", {"agent_id": "sales", "context": {"t": "mine"}}, 201),
        (
            "POST",
            "/v1/messages",
            {"from_agent": "sales", "to_agent": "support", "context": {}},
            201,
        ),
        ("POST", "/v1/messages/broadcast", {"from_agent": "sales", "context": {}}, 201),
        ("GET", "/v1/agents/sales/messages", None, 200),
        ("GET", "/v1/messages/history?agent=support&peer=sales", None, 200),
        ("GET", f"/v1/memories/{theirs.json()['id']}", None, 200),
        ("PUT", "/v1/agents/sales", {"role": "sales"}, 200),
    ]
    for method, path, body, status in ok:
        response = await client.request(method, path, json=body, headers=sales)
        assert response.status_code == status, (path, response.text)
    found = await client.post("/v1/memories/query", json={}, headers=sales)
    assert {m["context"]["t"] for m in found.json()["items"]} == {"mine", "theirs"}


async def test_deleting_a_workspace_erases_everything_of_it(
    client: AsyncTestClient, db_conn: psycopg.Connection
) -> None:
    await workspace(client, "acme")
    made = await key(client, "acme")
    acme = bearer(made)
    for agent in ("a", "b"):
        await client.put(f"/v1/agents/{agent}", json={}, headers=acme)
    await client.post(
        "/v1/memories",
        json={"agent_id": "a", "context": {}},
        headers={**acme, "Idempotency-Key": "k1"},
    )
    await client.post(
        "/v1/messages", json={"from_agent": "a", "to_agent": "b", "context": {}}, headers=acme
    )
    await client.post("/v1/memories", json={"agent_id": "a", "context": {"kept": True}})  # default
    refused = await client.delete("/v1/workspaces/acme")
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "confirm"
    assert (await client.delete("/v1/workspaces/acme?confirm=beta")).status_code == 422
    assert (await client.delete("/v1/workspaces/default?confirm=default")).status_code == 422
    assert (await client.delete("/v1/workspaces/nowhere?confirm=nowhere")).status_code == 404
    assert (await client.delete("/v1/workspaces/acme?confirm=acme")).status_code == 204
    for table in (
        "agents",
        "memories",
        "messages",
        "message_deliveries",
        "idempotency_keys",
        "api_keys",
        "audit",
    ):
        left = db_conn.execute(f"SELECT count(*) FROM {table} WHERE workspace = 'acme'").fetchone()  # noqa: S608
        assert left == (0,), table
    assert db_conn.execute("SELECT count(*) FROM workspaces WHERE id = 'acme'").fetchone() == (0,)
    assert db_conn.execute(
        "SELECT count(*) FROM memories WHERE workspace = 'default'"
    ).fetchone() == (1,)
    assert (await client.get("/v1/agents", headers=acme)).status_code == 401
    assert (
        await client.get("/v1/agents", headers={"X-Brain-Workspace": "acme"})
    ).status_code == 404
    log = (await client.get("/v1/audit")).json()["items"]
    assert [(e["action"], e["target"]) for e in log[:2]] == [
        ("workspace.deleted", "acme"), ("workspace.created", "acme"),
    ]  # fmt: skip


async def test_the_audit_log_records_who_did_what(client: AsyncTestClient) -> None:
    await workspace(client, "acme")
    admin_key = await key(client, "acme", ["admin", "agents:write"], name="ops")
    ops = bearer(admin_key)
    second = (
        await client.post(
            "/v1/workspaces/acme/keys", json={"name": "x", "scopes": ["admin"]}, headers=ops
        )
    ).json()
    assert (
        await client.delete(f"/v1/workspaces/acme/keys/{second['id']}", headers=ops)
    ).status_code == 204
    await client.put("/v1/agents/a", json={}, headers=ops)
    assert (await client.post("/v1/admin/cleanup", headers=ops)).status_code == 200
    clear = await client.post("/v1/admin/clear", json={"confirm": "delete all data"}, headers=ops)
    assert clear.status_code == 204
    assert (await client.get("/v1/agents/a/export", headers=ops)).status_code == 404  # cleared
    await client.put("/v1/agents/a", json={}, headers=ops)
    assert (await client.get("/v1/agents/a/export", headers=ops)).status_code == 200
    assert (await client.delete("/v1/agents/a?purge=true", headers=ops)).status_code == 204
    entries = (await client.get("/v1/audit", headers=ops)).json()["items"]
    assert [e["action"] for e in entries] == [
        "agent.purged", "agent.exported", "clear", "cleanup", "key.revoked", "key.created",
        "key.created",
    ]  # fmt: skip
    by_ops = [e for e in entries if e["key_id"] == admin_key["id"]]
    assert len(by_ops) == 6 and entries[-1]["key_id"] is None  # the first key: the admin token
    assert all(e["request_id"] for e in entries)
    assert entries[4]["target"] == second["id"] and entries[0]["target"] == "a"
    assert entries[-1]["detail"] == {
        "name": "ops",
        "scopes": ["admin", "agents:write"],
        "agent_id": None,
    }
    first = (await client.get("/v1/audit?limit=3", headers=ops)).json()
    rest = (
        await client.get(f"/v1/audit?limit=10&cursor={first['next_cursor']}", headers=ops)
    ).json()
    assert [e["id"] for e in first["items"] + rest["items"]] == [e["id"] for e in entries]
    # a cursor of another workspace's log is refused
    other = await client.get(f"/v1/audit?cursor={first['next_cursor']}")
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "cursor"


async def test_export_and_purge_of_an_agent(
    client: AsyncTestClient, db_conn: psycopg.Connection
) -> None:
    for agent in ("sales", "support", "ops"):
        await client.put(f"/v1/agents/{agent}", json={"role": agent})
    await client.post("/v1/memories", json={"agent_id": "sales", "context": {"n": 1}})
    await client.post(
        "/v1/memories", json={"agent_id": "sales", "context": {"n": 2}, "ttl_seconds": 60}
    )
    await client.post("/v1/memories", json={"agent_id": "support", "context": {"n": 3}})
    to_support = (
        await client.post(
            "/v1/messages", json={"from_agent": "sales", "to_agent": "support", "context": {"m": 1}}
        )
    ).json()
    await client.post(
        "/v1/messages", json={"from_agent": "ops", "to_agent": "sales", "context": {"m": 2}}
    )
    await client.post("/v1/messages/broadcast", json={"from_agent": "ops", "context": {"m": 3}})
    taken = (await client.get("/v1/agents/sales/messages?limit=10")).json()["items"]
    await client.post("/v1/agents/sales/messages/ack", json={"ids": [taken[0]["id"]]})
    exported = await client.get("/v1/agents/sales/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert lines[0]["type"] == "agent" and lines[0]["data"]["id"] == "sales"
    assert sorted(m["data"]["context"]["n"] for m in lines if m["type"] == "memory") == [1, 2]
    messages = [m for m in lines if m["type"] == "message"]
    assert sorted(m["data"]["context"]["m"] for m in messages) == [1, 2, 3]
    assert sum(1 for m in messages if m.get("acked_at")) == 1
    assert (await client.get("/v1/agents/nobody/export")).status_code == 404

    purged = await client.delete("/v1/agents/sales?purge=true")
    assert purged.status_code == 204
    assert (await client.get("/v1/agents/sales")).status_code == 404
    assert (await client.post("/v1/memories/query", json={"agent_id": "sales"})).json()[
        "items"
    ] == []
    left = db_conn.execute(
        "SELECT (SELECT count(*) FROM memories WHERE agent_id = 'sales'),"
        " (SELECT count(*) FROM messages WHERE from_agent = 'sales' OR to_agent = 'sales'),"
        " (SELECT count(*) FROM message_deliveries WHERE agent_id = 'sales')"
    ).fetchone()
    assert left == (0, 0, 0)
    # what sales sent is gone from support's inbox too; the broadcast from ops stays for support
    inbox = (await client.get("/v1/agents/support/messages?limit=10")).json()["items"]
    assert to_support["id"] not in {m["id"] for m in inbox}
    assert [m["context"]["m"] for m in inbox] == [3]
    assert (await client.post("/v1/memories/query", json={"agent_id": "support"})).json()["items"]
    assert (await client.delete("/v1/agents/sales?purge=true")).status_code == 204  # nothing left
    scoped = bearer(await key(client, "default", ["agents:write"]))
    refused = await client.delete("/v1/agents/support?purge=true", headers=scoped)
    assert refused.status_code == 403 and refused.json()["errors"][0]["field"] == "purge"


async def test_workspaces_writing_at_once_each_see_their_own(client: AsyncTestClient) -> None:
    """Several workspaces store, share and query at the same time (one pool, one cache, one
    batching of stores per workspace); afterwards each counts only its own."""
    names = [f"team{n}" for n in range(4)]
    for name in names:
        await workspace(client, name)
    keys = {name: bearer(await key(client, name)) for name in names}

    async def work(name: str, n: int) -> None:
        headers = keys[name]
        await client.put(f"/v1/agents/{name}-a", json={}, headers=headers)
        await client.put(f"/v1/agents/{name}-b", json={}, headers=headers)
        stores = [
            client.post(
                "/v1/memories",
                json={"agent_id": f"{name}-a", "context": {"w": name, "i": i}},
                headers=headers,
            )
            for i in range(n)
        ]
        assert {r.status_code for r in await asyncio.gather(*stores)} == {201}
        for _ in range(n // 5):
            body = {"from_agent": f"{name}-a", "to_agent": f"{name}-b", "context": {"w": name}}
            assert (
                await client.post("/v1/messages", json=body, headers=headers)
            ).status_code == 201
        found = await client.post("/v1/memories/query", json={"limit": 500}, headers=headers)
        assert {m["context"]["w"] for m in found.json()["items"]} <= {name}

    counts = {name: 10 + 5 * n for n, name in enumerate(names)}
    await asyncio.gather(*(work(name, count) for name, count in counts.items()))
    for name, count in counts.items():
        stats = (await client.get("/v1/stats", headers=keys[name])).json()
        assert stats["agents"] == 2
        assert stats["memories"] == {
            "total": count, "by_agent": {f"{name}-a": count},
            "by_embedding_space": {"none": count}, "waiting_for_embedding": 0,
            "embedding_space": None,
        }  # fmt: skip
        assert stats["messages"]["total"] == count // 5
        found = await client.post("/v1/memories/query", json={"limit": 500}, headers=keys[name])
        assert sorted(m["context"]["i"] for m in found.json()["items"]) == list(range(count))
        inbox = await client.get(f"/v1/agents/{name}-b/messages?limit=100", headers=keys[name])
        assert len(inbox.json()["items"]) == count // 5
        assert {m["context"]["w"] for m in inbox.json()["items"]} == {name}
