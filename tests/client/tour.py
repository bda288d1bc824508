"""Every public method of `Brain` and of `AsyncBrain`, each called at least once against a real
service: what the drift test records the requests of, and the async client's coverage."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from brain_client import AsyncBrain, Brain, MemoryIn, RateLimit, TakenMessage

API_EXTRAS = {"close", "aclose", "config", "with_workspace"}
"""Public attributes that are no API method (the client's own)."""


class Recorder:
    """Forwards to a client and records which of its methods were called."""

    def __init__(self, client: Any, called: set[str] | None = None) -> None:
        self._client = client
        self.called: set[str] = set() if called is None else called

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name.startswith("_") or not callable(attribute):
            return attribute
        self.called.add(name)
        if name == "with_workspace":
            return lambda *a, **kw: Recorder(attribute(*a, **kw), self.called)
        return attribute


def public_methods(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n))} - {"config"}


def tour(client: Brain, tag: str) -> set[str]:
    """Calls every method; the names called."""
    brain: Any = Recorder(client)
    a, b, ws = f"{tag}-a", f"{tag}-b", f"{tag}-ws"
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    assert brain.live().status == "ok"
    assert brain.ready().status == "ok"
    brain.register_agent(a, name="A", role="r", capabilities=["crm"], metadata={"k": 1})
    brain.register_agent(b)
    assert brain.get_agent(a).capabilities == ["crm"]
    assert len(brain.list_agents(limit=1).items) == 1
    assert {a, b} <= {agent.id for agent in brain.iter_agents(page_size=1)}
    memory = brain.store(a, {"note": "Acme prefers email"}, tags=[tag], ttl_seconds=3600)
    batch = brain.store_batch([MemoryIn(agent_id=a, context={"n": n}, tags=[tag]) for n in (1, 2)])
    assert brain.get_memory(memory.id) == memory
    assert len(brain.query(tags=[tag], limit=2).items) == 2
    assert len(list(brain.iter_query(tags=[tag], page_size=2))) == 3
    assert len(brain.agent_memories(a, limit=1).items) == 1
    assert len(list(brain.iter_agent_memories(a, page_size=2))) == 3
    brain.delete_memory(batch[0].id)
    shared = brain.share(a, b, {"n": 1}, priority="high")
    brain.broadcast(a, {"n": 2})
    taken = brain.take(b, limit=10)
    assert len(taken) == 2
    assert brain.ack(b, [m.id for m in taken]) == 2
    brain.share(a, b, {"n": 3})
    seen: list[TakenMessage] = []
    assert brain.inbox(b, seen.append, wait=1, max_messages=1).acked == 1
    brain.share(a, b, {"n": 4})
    with contextlib.closing(brain.stream(b, consumer="tour")) as events:
        pushed = next(events)
    assert pushed.context == {"n": 4}
    brain.ack(b, [pushed.id])
    assert brain.history(a, b, limit=1).items[0].to_agent == b
    assert shared.id in {m.id for m in brain.iter_history(a, b, page_size=1)}
    assert len(brain.replay(b, since, limit=1).items) == 1
    assert len(list(brain.iter_replay(b, since, page_size=2))) == 4
    assert brain.stats().agents >= 2
    brain.cleanup()
    assert brain.audit_log(limit=1).items[0].action == "cleanup"
    assert next(iter(brain.iter_audit_log(page_size=1))).action == "cleanup"
    brain.create_workspace(ws, name="Tour")
    assert brain.list_workspaces(limit=500).items
    assert ws in {w.id for w in brain.iter_workspaces(page_size=2)}
    key = brain.create_key(ws, "tour", ["admin"], rate_limit=RateLimit(per_second=50, burst=50))
    assert [k.id for k in brain.list_keys(ws)] == [key.id]
    brain.revoke_key(ws, key.id)
    brain.with_workspace(ws).clear("delete all data")
    records = list(brain.export_agent(a))
    assert [r.type for r in records][:1] == ["agent"] and len(records) >= 3
    brain.unregister_agent(b)
    brain.purge_agent(a)
    brain.delete_workspace(ws, confirm=ws)
    return brain.called


async def async_tour(client: AsyncBrain, tag: str) -> set[str]:
    """`tour` for the async client."""
    brain: Any = Recorder(client)
    a, b, ws = f"{tag}-a", f"{tag}-b", f"{tag}-ws"
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    assert (await brain.live()).status == "ok"
    assert (await brain.ready()).status == "ok"
    await brain.register_agent(a, name="A", role="r", capabilities=["crm"], metadata={"k": 1})
    await brain.register_agent(b)
    assert (await brain.get_agent(a)).capabilities == ["crm"]
    assert len((await brain.list_agents(limit=1)).items) == 1
    assert {a, b} <= {agent.id async for agent in brain.iter_agents(page_size=1)}
    memory = await brain.store(a, {"note": "Acme prefers email"}, tags=[tag], ttl_seconds=3600)
    items = [MemoryIn(agent_id=a, context={"n": n}, tags=[tag]) for n in (1, 2)]
    batch = await brain.store_batch(items)
    assert await brain.get_memory(memory.id) == memory
    assert len((await brain.query(tags=[tag], limit=2)).items) == 2
    assert len([m async for m in brain.iter_query(tags=[tag], page_size=2)]) == 3
    assert len((await brain.agent_memories(a, limit=1)).items) == 1
    assert len([m async for m in brain.iter_agent_memories(a, page_size=2)]) == 3
    await brain.delete_memory(batch[0].id)
    shared = await brain.share(a, b, {"n": 1}, priority="high")
    await brain.broadcast(a, {"n": 2})
    taken = await brain.take(b, limit=10)
    assert len(taken) == 2
    assert await brain.ack(b, [m.id for m in taken]) == 2
    await brain.share(a, b, {"n": 3})
    seen: list[TakenMessage] = []

    async def handle(message: TakenMessage) -> None:
        seen.append(message)

    assert (await brain.inbox(b, handle, wait=1, max_messages=1)).acked == 1
    assert [m.context for m in seen] == [{"n": 3}]
    await brain.share(a, b, {"n": 4})
    async with contextlib.aclosing(brain.stream(b, consumer="tour")) as events:
        pushed = await anext(events)
    assert pushed.context == {"n": 4}
    await brain.ack(b, [pushed.id])
    assert (await brain.history(a, b, limit=1)).items[0].to_agent == b
    assert shared.id in {m.id async for m in brain.iter_history(a, b, page_size=1)}
    assert len((await brain.replay(b, since, limit=1)).items) == 1
    assert len([m async for m in brain.iter_replay(b, since, page_size=2)]) == 4
    assert (await brain.stats()).agents >= 2
    await brain.cleanup()
    assert (await brain.audit_log(limit=1)).items[0].action == "cleanup"
    assert (await anext(brain.iter_audit_log(page_size=1))).action == "cleanup"
    await brain.create_workspace(ws, name="Tour")
    assert (await brain.list_workspaces(limit=500)).items
    assert ws in {w.id async for w in brain.iter_workspaces(page_size=2)}
    key = await brain.create_key(ws, "tour", ["admin"])
    assert [k.id for k in await brain.list_keys(ws)] == [key.id]
    await brain.revoke_key(ws, key.id)
    await brain.with_workspace(ws).clear("delete all data")
    records = [r async for r in brain.export_agent(a)]
    assert [r.type for r in records][:1] == ["agent"] and len(records) >= 3
    await brain.unregister_agent(b)
    await brain.purge_agent(a)
    await brain.delete_workspace(ws, confirm=ws)
    return set(brain.called)
