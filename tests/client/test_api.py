"""Each group of the client's methods against a real `brain serve` (with the local model): the
typed results, every query filter, paging, idempotency keys and the errors' problem details."""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from brain_client import (
    Agent,
    AsyncBrain,
    Brain,
    Conflict,
    ContentTooLarge,
    Forbidden,
    InvalidRequest,
    Memory,
    MemoryIn,
    NotFound,
    RateLimit,
    Retry,
    TooManyRequests,
    Unauthorized,
    errors,
)
from tests.client.tour import async_tour
from tests.support.service import Service


@pytest.fixture
def brain(api_service: Service, token: str) -> Iterator[Brain]:
    with Brain(api_service.url, token) as client:
        yield client


def unit(*values: float) -> list[float]:
    """A 384-dimensional unit vector (the local model's space) from its first components."""
    vector = [*values, *([0.0] * (384 - len(values)))]
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector]


def test_agents(brain: Brain) -> None:
    created = brain.register_agent(
        "ag-sales", name="Sales", role="sales", capabilities=["crm"], metadata={"region": "EMEA"}
    )
    assert isinstance(created, Agent) and created.registered_at.tzinfo is not None
    assert (created.name, created.role, created.capabilities) == ("Sales", "sales", ["crm"])
    replaced = brain.register_agent("ag-sales", name="Sales 2")
    assert (replaced.name, replaced.role, replaced.capabilities) == ("Sales 2", None, [])
    assert brain.get_agent("ag-sales") == replaced
    for n in range(3):
        brain.register_agent(f"ag-page-{n}")
    first = brain.list_agents(limit=2)
    assert len(first.items) == 2 and first.next_cursor == first.items[-1].id
    ids = [a.id for a in brain.iter_agents(page_size=2)]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert {"ag-sales", "ag-page-0", "ag-page-1", "ag-page-2"} <= set(ids)
    brain.unregister_agent("ag-page-0")
    with pytest.raises(NotFound) as missing:
        brain.get_agent("ag-page-0")
    assert missing.value.status == 404 and missing.value.title == "Not found"
    assert missing.value.detail and missing.value.instance == "/v1/agents/ag-page-0"
    with pytest.raises(InvalidRequest) as invalid:
        brain.register_agent("ag-x", capabilities=["bad\u0000tag"])
    assert invalid.value.status == 422 and invalid.value.fields == ["capabilities[0]"]


def test_memories_store_get_batch_delete(brain: Brain) -> None:
    brain.register_agent("mem-a")
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    memory = brain.store(
        "mem-a", {"note": "Acme prefers email"}, tags=["acme", "acme"], importance=0.8,
        expires_at=expires,
    )  # fmt: skip
    assert isinstance(memory, Memory) and isinstance(memory.id, uuid.UUID)
    assert memory.tags == ["acme"] and memory.importance == 0.8
    assert memory.expires_at is not None and abs((memory.expires_at - expires).total_seconds()) < 1
    assert brain.get_memory(str(memory.id)) == memory
    batch = brain.store_batch(
        [MemoryIn(agent_id="mem-a", context={"n": n}, ttl_seconds=60) for n in range(3)]
    )
    assert [m.context["n"] for m in batch] == [0, 1, 2]
    with pytest.raises(InvalidRequest) as bad:
        brain.store_batch(
            [MemoryIn(agent_id="mem-a", context={}), MemoryIn(agent_id="mem-a", context={},
                                                             importance=2.0)]
        )  # fmt: skip
    assert bad.value.fields == ["items[1].importance"]
    assert bad.value.errors[0].message
    brain.delete_memory(batch[0].id)
    with pytest.raises(NotFound):
        brain.get_memory(batch[0].id)
    with pytest.raises(NotFound):  # nothing was unanswered before: a 404 is the answer
        brain.delete_memory(batch[0].id)
    with pytest.raises(ContentTooLarge) as large:
        brain.store("mem-a", {"blob": "x" * 70_000})
    assert large.value.status == 413


def test_an_idempotency_key_stores_once(brain: Brain) -> None:
    brain.register_agent("idem-a")
    key = f"idem-{uuid.uuid4()}"
    first = brain.store("idem-a", {"n": 1}, idempotency_key=key)
    again = brain.store("idem-a", {"n": 1}, idempotency_key=key)
    assert again == first
    with pytest.raises(Conflict):  # the same key with another body
        brain.store("idem-a", {"n": 2}, idempotency_key=key)
    assert [m.id for m in brain.iter_agent_memories("idem-a")] == [first.id]


def test_query_filters_and_pages(brain: Brain) -> None:
    for agent in ("q-a", "q-b", "q-c"):
        brain.register_agent(agent)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    notes = [
        ("q-a", "renewal call with Acme", ["q", "acme"], 0.9),
        ("q-b", "Globex asked for a demo", ["q", "globex"], 0.2),
        ("q-c", "Acme and Globex merge", ["q", "acme", "globex"], 0.5),
    ]
    stored = [brain.store(a, {"note": n}, tags=t, importance=i) for a, n, t, i in notes]
    a, b, c = (m.id for m in stored)

    def ids(**filters: object) -> list[uuid.UUID]:
        return [m.id for m in brain.iter_query(tags=["q"], **filters)]

    assert ids() == [c, b, a]  # newest first
    assert [m.id for m in brain.query(agent_id="q-a").items] == [a]
    assert ids(agent_ids=["q-a", "q-b"]) == [b, a]
    assert [m.id for m in brain.iter_query(tags=["acme", "globex"], match="all")] == [c]
    assert [m.id for m in brain.iter_query(tags=["globex"], match="any")] == [c, b]
    assert ids(min_importance=0.5) == [c, a]
    assert ids(order="importance") == [a, c, b]
    assert ids(since=start, until=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)) == [c, b, a]
    assert ids(until=start) == []
    assert ids(text="acme -globex") == [a]
    page = brain.query(tags=["q"], limit=2)
    assert len(page.items) == 2 and page.next_cursor is not None
    rest = brain.query(tags=["q"], limit=2, cursor=page.next_cursor)
    assert [m.id for m in [*page.items, *rest.items]] == [c, b, a] and rest.next_cursor is None
    assert ids(page_size=1) == [c, b, a]
    with pytest.raises(InvalidRequest) as foreign:
        brain.query(tags=["acme"], limit=2, cursor=page.next_cursor)  # another query's cursor
    assert foreign.value.fields == ["cursor"]
    with pytest.raises(InvalidRequest) as both:
        brain.query(agent_id="q-a", agent_ids=["q-b"])
    assert both.value.status == 422 and both.value.errors


def test_recall_by_meaning_vectors_hybrid_and_dedupe(brain: Brain) -> None:
    brain.register_agent("sem-a")
    email = brain.store("sem-a", {"note": "Acme prefers email"}, tags=["sem"])
    brain.store("sem-a", {"note": "The office plants need water on Fridays"}, tags=["sem"])
    found = brain.query(tags=["sem"], semantic="how does Acme like to be contacted?", limit=1)
    assert [m.id for m in found.items] == [email.id]
    assert isinstance(found.items[0].score, float) and found.items[0].score > 0.3
    assert email.score is msgspec_unset()
    hybrid = brain.query(tags=["sem"], text="email", semantic="contacting Acme", limit=5)
    assert hybrid.items[0].id == email.id and 0 < hybrid.items[0].score < 1
    strict = list(brain.iter_query(tags=["sem"], semantic="contacting Acme", min_score=0.99))
    assert strict == []
    # A client's own vectors, in the model's space.
    brain.register_agent("vec-a")
    north = brain.store("vec-a", {"v": "north"}, tags=["vec"], embedding=unit(1, 0.1))
    east = brain.store("vec-a", {"v": "east"}, tags=["vec"], embedding=unit(0.1, 1))
    nearest = brain.query(tags=["vec"], vector=unit(1, 0), order="relevance")
    assert [m.id for m in nearest.items] == [north.id, east.id]
    assert nearest.items[0].score == pytest.approx(0.995, abs=0.01)
    close = [m.id for m in brain.iter_query(tags=["vec"], vector=unit(1, 0), min_score=0.9)]
    assert close == [north.id]
    duplicate = brain.store("vec-a", {"v": "north again"}, embedding=unit(1, 0.1), dedupe=0.99)
    assert duplicate.duplicate_of == north.id and duplicate.id == north.id
    fresh = brain.store("vec-a", {"v": "west"}, embedding=unit(-1, 0), dedupe=0.99)
    assert fresh.duplicate_of is msgspec_unset()
    assert len(list(brain.iter_agent_memories("vec-a"))) == 3


def msgspec_unset() -> object:
    import msgspec

    return msgspec.UNSET


def test_messages(brain: Brain) -> None:
    for agent in ("msg-a", "msg-b", "msg-c"):
        brain.register_agent(agent)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    low = brain.share("msg-a", "msg-b", {"n": 1}, priority="low")
    urgent = brain.share("msg-a", "msg-b", {"n": 2}, priority="urgent", ttl_seconds=600)
    assert urgent.expires_at is not None and urgent.to_agent == "msg-b"
    everyone = brain.broadcast("msg-c", {"n": 3})
    assert everyone.to_agent is None
    taken = brain.take("msg-b", limit=10, consumer="w1")
    assert [m.id for m in taken] == [urgent.id, everyone.id, low.id]  # urgent first
    assert {m.delivery_count for m in taken} == {1}
    assert brain.take("msg-b", consumer="w2") == []  # leased to w1
    assert brain.ack("msg-b", [str(m.id) for m in taken]) == 3
    assert brain.ack("msg-b", [m.id for m in taken]) == 3  # acknowledged before: still counted
    key = str(uuid.uuid4())
    once = brain.share("msg-b", "msg-a", {"reply": True}, idempotency_key=key)
    assert brain.share("msg-b", "msg-a", {"reply": True}, idempotency_key=key) == once
    history = list(brain.iter_history("msg-a", "msg-b", page_size=1))
    assert [m.id for m in history] == [once.id, urgent.id, low.id]  # newest first, both ways
    page = brain.history("msg-b", "msg-a", limit=2, before=dt.datetime.now(dt.UTC))
    assert len(page.items) == 2 and page.next_cursor is not None
    replayed = list(brain.iter_replay("msg-b", since, page_size=2))
    assert [m.id for m in replayed] == [low.id, urgent.id, everyone.id]  # oldest first
    assert all(m.acked_at is not None for m in replayed)
    assert brain.replay("msg-b", since, limit=1).next_cursor is not None
    with pytest.raises(ValueError, match="timezone"):
        brain.replay("msg-b", dt.datetime(2026, 1, 1))  # naive: refused before sending
    with pytest.raises(NotFound) as unknown:
        brain.share("msg-a", "nobody", {})
    assert unknown.value.status == 404


def test_admin_workspaces_and_keys(api_service: Service, brain: Brain, token: str) -> None:
    stats = brain.stats()
    assert stats.cache.available is True and stats.memories.total >= 0
    assert brain.cleanup().expired_memories_deleted >= 0
    assert brain.audit_log(limit=1).items[0].action == "cleanup"
    workspace = brain.create_workspace("ws-api", name="API tests")
    assert workspace.id == "ws-api" and workspace.created_at.tzinfo is not None
    with pytest.raises(Conflict):
        brain.create_workspace("ws-api")
    key = brain.create_key(
        "ws-api", "agent key", ["memories:read", "memories:write", "agents:write"],
        agent_id="bot", rate_limit=RateLimit(per_second=1, burst=2),
    )  # fmt: skip
    assert key.secret.startswith("brk_ws-api_") and key.rate_limit == RateLimit(1.0, 2)
    listed = brain.list_keys("ws-api")
    assert [k.id for k in listed] == [key.id] and listed[0].prefix == key.prefix
    with Brain(api_service.url, key.secret, retry=Retry(attempts=1)) as bot:
        bot.register_agent("bot")
        bot.store("bot", {"n": 1})  # two requests: the burst is spent
        with pytest.raises(TooManyRequests) as limited:
            bot.store("bot", {"n": 2})
        assert limited.value.status == 429 and limited.value.retry_after == 1
        time.sleep(1.0)
        with pytest.raises(Forbidden) as forbidden:
            bot.store("other", {"n": 3})  # acts as agent bot only
        assert forbidden.value.fields == ["agent_id"]
    with Brain(api_service.url, key.secret, retry=Retry(attempts=3, backoff=0.05)) as patient:
        patient.store("bot", {"n": 4})
        patient.store("bot", {"n": 5})  # 429 with Retry-After: 1, then the bucket refilled
    in_ws = brain.with_workspace("ws-api")
    assert [m.context["n"] for m in in_ws.iter_agent_memories("bot")] == [5, 4, 1]
    assert [m.id for m in brain.iter_agent_memories("bot")] == []  # not in default
    brain.revoke_key("ws-api", key.id)
    time.sleep(0.6)
    with Brain(api_service.url, key.secret) as revoked, pytest.raises(Unauthorized) as denied:
        revoked.get_agent("bot")
    assert denied.value.status == 401 and denied.value.title == "Unauthorized"
    in_ws.clear("delete all data")
    assert in_ws.stats().memories.total == 0
    with pytest.raises(InvalidRequest):
        brain.delete_workspace("ws-api", confirm="not it")
    brain.delete_workspace("ws-api", confirm="ws-api")
    assert "ws-api" not in {w.id for w in brain.iter_workspaces()}


def test_errors_carry_the_problem(api_service: Service) -> None:
    with Brain(api_service.url, "wrong") as stranger, pytest.raises(Unauthorized) as denied:
        stranger.stats()
    problem = denied.value
    assert isinstance(problem, errors.APIError) and problem.attempts == 1
    assert (problem.status, problem.title, problem.type) == (401, "Unauthorized", "about:blank")
    assert problem.headers["www-authenticate"].startswith("Bearer")
    assert "401 Unauthorized" in str(problem)
    for status, kind in errors.BY_STATUS.items():
        assert errors.error_for(status) is kind and issubclass(kind, errors.APIError)
    assert errors.error_for(500) is errors.ServerError
    assert errors.error_for(418) is errors.APIError


async def test_every_async_method(api_service: Service, token: str) -> None:
    async with AsyncBrain(api_service.url, token) as brain:
        await async_tour(brain, "async")
        with pytest.raises(NotFound) as missing:
            await brain.get_memory(uuid.uuid4())
        assert missing.value.status == 404


def test_a_shared_httpx_client_stays_open(api_service: Service, token: str) -> None:
    with httpx.Client() as http:
        with Brain(api_service.url, token, http=http) as brain:
            assert brain.live().status == "ok"
        assert not http.is_closed
