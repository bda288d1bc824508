"""Messaging: share, broadcast, pending, ack, leases, priorities, history, replay (G1, G3)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from brain import app
from brain.settings import Settings
from tests.support.api import AUTH


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    """Leases of one second, so that redelivery can be watched."""
    quick = settings.replace(visibility_timeout_seconds=1)
    async with AsyncTestClient(app=app.create_app(quick)) as test_client:
        test_client.headers.update(AUTH)
        for agent in ("sales", "research", "support"):
            assert (await test_client.put(f"/v1/agents/{agent}", json={})).status_code == 201
        yield test_client


async def share(client: AsyncTestClient, to: str = "research", **body: object) -> dict:
    body = {"from_agent": "sales", "to_agent": to, "context": {"n": 1}} | body
    response = await client.post("/v1/messages", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def pending(client: AsyncTestClient, agent: str = "research", **params: object) -> list[dict]:
    response = await client.get(f"/v1/agents/{agent}/messages", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def ack(client: AsyncTestClient, agent: str, ids: list[str]) -> int:
    response = await client.post(f"/v1/agents/{agent}/messages/ack", json={"ids": ids})
    assert response.status_code == 200, response.text
    return response.json()["acked"]


async def test_share_take_ack(client: AsyncTestClient, db_conn: psycopg.Connection) -> None:
    sent = await share(client, context={"task": "qualify Acme"}, priority="high")
    assert sent["from_agent"] == "sales" and sent["to_agent"] == "research"
    assert sent["priority"] == "high" and sent["expires_at"] is None
    got = await pending(client)
    assert [m["id"] for m in got] == [sent["id"]]
    assert got[0]["context"] == {"task": "qualify Acme"}
    assert got[0]["delivery_count"] == 1
    assert await pending(client) == []  # leased to this consumer
    assert await ack(client, "research", [sent["id"]]) == 1
    assert await ack(client, "research", [sent["id"]]) == 1  # idempotent
    assert await ack(client, "sales", [sent["id"]]) == 0  # not addressed to sales
    await asyncio.sleep(1.2)
    assert await pending(client) == []  # acknowledged: never again
    row = db_conn.execute("SELECT acked_at FROM message_deliveries").fetchone()
    assert row is not None and row[0] is not None


async def test_priority_then_age(client: AsyncTestClient) -> None:
    order = ["low", "normal", "urgent", "high", "urgent", "low"]
    sent = [await share(client, priority=p) for p in order]
    got = await pending(client, limit=100)
    expected = [sent[i]["id"] for i in (2, 4, 3, 1, 0, 5)]
    assert [m["id"] for m in got] == expected


async def test_limit_is_respected_and_the_rest_stays(client: AsyncTestClient) -> None:
    sent = [await share(client) for _ in range(5)]
    first = await pending(client, limit=2)
    rest = await pending(client, limit=10)
    assert [m["id"] for m in first + rest] == [m["id"] for m in sent]


async def test_consumers_share_the_work(client: AsyncTestClient) -> None:
    sent = {(await share(client))["id"] for _ in range(10)}
    one = {m["id"] for m in await pending(client, consumer="replica-1", limit=5)}
    two = {m["id"] for m in await pending(client, consumer="replica-2", limit=10)}
    assert len(one) == 5 and len(two) == 5
    assert one | two == sent


async def test_a_dead_consumers_message_is_redelivered_to_another(client: AsyncTestClient) -> None:
    sent = await share(client)
    assert [m["id"] for m in await pending(client, consumer="dies")] == [sent["id"]]
    assert await pending(client, consumer="survivor") == []  # leased
    await asyncio.sleep(1.2)  # the lease (visibility timeout) runs out
    again = await pending(client, consumer="survivor")
    assert [m["id"] for m in again] == [sent["id"]]
    assert again[0]["delivery_count"] == 2
    assert await ack(client, "research", [sent["id"]]) == 1
    await asyncio.sleep(1.2)
    assert await pending(client, consumer="dies") == []


async def test_wait_without_messages_returns_empty_after_the_wait(client: AsyncTestClient) -> None:
    started = asyncio.get_running_loop().time()
    assert await pending(client, wait=0.5) == []
    assert asyncio.get_running_loop().time() - started >= 0.5


async def test_broadcast_reaches_everyone_but_the_sender_once(client: AsyncTestClient) -> None:
    response = await client.post(
        "/v1/messages/broadcast", json={"from_agent": "sales", "context": {"all": True}}
    )
    assert response.status_code == 201
    sent = response.json()
    assert sent["to_agent"] is None
    for agent in ("research", "support"):
        got = await pending(client, agent)
        assert [m["id"] for m in got] == [sent["id"]]
        assert await ack(client, agent, [sent["id"]]) == 1
    assert await pending(client, "sales") == []
    await asyncio.sleep(1.2)
    for agent in ("research", "support", "sales"):
        assert await pending(client, agent) == []


async def test_expired_message_is_not_delivered(client: AsyncTestClient) -> None:
    await share(client, ttl_seconds=1)
    kept = await share(client)
    await asyncio.sleep(1.1)
    assert [m["id"] for m in await pending(client)] == [kept["id"]]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"from_agent": "ghost"}, 404, "from_agent"),
        ({"to_agent": "ghost"}, 404, "to_agent"),
        ({"priority": "asap"}, 422, "priority"),
        ({"to_agent": "bad id"}, 422, "to_agent"),
        ({"context": {"x": "y" * 70000}}, 413, "context"),
        ({"context": []}, 422, "context"),
        ({"context": {"x": "\x00"}}, 422, "context"),
        ({"ttl_seconds": 0}, 422, "ttl_seconds"),
        ({"extra": 1}, 422, "extra"),
    ],
)
async def test_bad_shares_write_nothing(
    client: AsyncTestClient, db_conn: psycopg.Connection, body: dict, status: int, field: str
) -> None:
    full = {"from_agent": "sales", "to_agent": "research", "context": {}} | body
    response = await client.post("/v1/messages", json=full)
    assert response.status_code == status, response.text
    assert any(e["field"] == field for e in response.json()["errors"])
    assert db_conn.execute("SELECT count(*) FROM messages").fetchone() == (0,)
    assert db_conn.execute("SELECT count(*) FROM message_deliveries").fetchone() == (0,)


async def test_bad_pending_and_ack_requests(client: AsyncTestClient) -> None:
    for params in ({"limit": 0}, {"limit": 101}, {"wait": 31}, {"wait": -1}, {"consumer": "a b"}):
        response = await client.get("/v1/agents/research/messages", params=params)
        assert response.status_code == 422, params
        assert response.json()["errors"][0]["field"] == next(iter(params))
    for body in ({"ids": []}, {"ids": ["nope"]}, {}):
        response = await client.post("/v1/agents/research/messages/ack", json=body)
        assert response.status_code == 422, body


async def test_idempotent_share(client: AsyncTestClient, db_conn: psycopg.Connection) -> None:
    body = {"from_agent": "sales", "to_agent": "research", "context": {"n": 1}}
    headers = {"Idempotency-Key": "share-1"}
    first = await client.post("/v1/messages", json=body, headers=headers)
    again = await client.post("/v1/messages", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.content == again.content
    assert db_conn.execute("SELECT count(*) FROM messages").fetchone() == (1,)
    assert len(await pending(client)) == 1


async def test_history_both_ways_and_pages(client: AsyncTestClient) -> None:
    a = await share(client, "research")
    b = (await client.post(
        "/v1/messages", json={"from_agent": "research", "to_agent": "sales", "context": {}}
    )).json()  # fmt: skip
    await share(client, "support")  # another pair
    c = await share(client, "research")
    params = {"agent": "sales", "peer": "research"}
    page = (await client.get("/v1/messages/history", params=params)).json()
    assert [m["id"] for m in page["items"]] == [c["id"], b["id"], a["id"]]
    first = (await client.get("/v1/messages/history", params=params | {"limit": 2})).json()
    assert [m["id"] for m in first["items"]] == [c["id"], b["id"]]
    rest = (await client.get(
        "/v1/messages/history", params=params | {"limit": 2, "cursor": first["next_cursor"]}
    )).json()  # fmt: skip
    assert [m["id"] for m in rest["items"]] == [a["id"]] and rest["next_cursor"] is None
    before = (await client.get(
        "/v1/messages/history", params=params | {"before": c["created_at"]}
    )).json()  # fmt: skip
    assert [m["id"] for m in before["items"]] == [b["id"], a["id"]]
    bad = await client.get("/v1/messages/history", params={"agent": "sales"})
    assert bad.status_code == 422


async def test_replay_includes_broadcasts_and_acknowledged(client: AsyncTestClient) -> None:
    since = dt.datetime.now(dt.UTC).isoformat()
    direct = await share(client)
    wide = (await client.post(
        "/v1/messages/broadcast", json={"from_agent": "support", "context": {}}
    )).json()  # fmt: skip
    await share(client, "support")  # not for research
    taken = await pending(client)
    await ack(client, "research", [direct["id"]])
    assert {m["id"] for m in taken} == {direct["id"], wide["id"]}
    page = (await client.get("/v1/agents/research/messages/replay", params={"since": since})).json()
    assert [m["id"] for m in page["items"]] == [direct["id"], wide["id"]]
    assert page["items"][0]["acked_at"] is not None
    assert page["items"][1]["acked_at"] is None
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)).isoformat()
    empty = await client.get("/v1/agents/research/messages/replay", params={"since": later})
    assert empty.json()["items"] == []
    missing = await client.get("/v1/agents/research/messages/replay")
    assert missing.status_code == 422


async def test_stats_and_cleanup(client: AsyncTestClient) -> None:
    sent = await share(client)
    await share(client)
    await client.post("/v1/messages/broadcast", json={"from_agent": "sales", "context": {}})
    await ack(client, "research", [sent["id"]])
    stats = (await client.get("/v1/stats")).json()["messages"]
    assert stats["total"] == 3
    assert stats["unacknowledged"] == 3  # one direct + the broadcast to research and support
    cleaned = (await client.post("/v1/admin/cleanup")).json()
    assert cleaned["messages_trimmed"] == 0 and cleaned["messages_pruned"] == 0


async def test_clear_forgets_messages_and_streams(client: AsyncTestClient) -> None:
    await share(client)
    assert (await client.delete("/v1/agents/research")).status_code == 204  # streams remain
    assert (
        await client.post("/v1/admin/clear", json={"confirm": "delete all data"})
    ).status_code == 204
    await client.put("/v1/agents/research", json={})
    assert await pending(client) == []
    assert (await client.get("/v1/stats")).json()["messages"]["total"] == 0
