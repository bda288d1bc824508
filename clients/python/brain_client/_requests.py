"""The call of each method of `Brain` and `AsyncBrain`, built once for both."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from brain_client import models
from brain_client._core import LAST_EVENT_ID, Call, call, ids, unset

Pages = Callable[[str | None], Call[Any]]
"""The call of the page after a cursor (None: the first page)."""

# -- agents ---------------------------------------------------------------------------------------


def register_agent(
    agent_id: str,
    name: str | None,
    role: str | None,
    capabilities: Sequence[str] | None,
    metadata: Mapping[str, Any] | None,
) -> Call[models.Agent]:
    body = models.AgentIn(
        name=unset(name),
        role=unset(role),
        capabilities=models.UNSET if capabilities is None else list(capabilities),
        metadata=models.UNSET if metadata is None else dict(metadata),
    )
    return call("register_agent", path={"agent_id": agent_id}, body=body)


def get_agent(agent_id: str) -> Call[models.Agent]:
    return call("get_agent", path={"agent_id": agent_id})


def list_agents(limit: int | None, cursor: str | None) -> Call[models.AgentPage]:
    return call("list_agents", params={"limit": limit, "cursor": cursor})


def agent_pages(limit: int | None) -> Pages:
    return lambda cursor: list_agents(limit, cursor)


def unregister_agent(agent_id: str, purge: bool) -> Call[None]:
    return call("unregister_agent", path={"agent_id": agent_id}, params={"purge": purge or None})


def export_agent(agent_id: str) -> Call[None]:
    return call("export_agent", path={"agent_id": agent_id})


# -- memories -------------------------------------------------------------------------------------


def memory_in(
    agent_id: str,
    context: Mapping[str, Any],
    tags: Sequence[str] | None,
    importance: float | None,
    ttl_seconds: int | None,
    expires_at: dt.datetime | None,
    embedding: Sequence[float] | None,
    dedupe: float | None,
) -> models.MemoryIn:
    return models.MemoryIn(
        agent_id=agent_id,
        context=dict(context),
        tags=models.UNSET if tags is None else list(tags),
        importance=unset(importance),
        ttl_seconds=unset(ttl_seconds),
        expires_at=unset(expires_at),
        embedding=models.UNSET if embedding is None else list(embedding),
        dedupe=models.UNSET if dedupe is None else models.Dedupe(threshold=dedupe),
    )


def store(memory: models.MemoryIn, idempotency_key: str | None) -> Call[models.Memory]:
    return call("store_memory", body=memory, headers={"Idempotency-Key": idempotency_key})


def store_batch(
    items: Iterable[models.MemoryIn], idempotency_key: str | None
) -> Call[models.MemoryList]:
    body = models.BatchIn(items=list(items))
    return call("store_memories", body=body, headers={"Idempotency-Key": idempotency_key})


def get_memory(memory_id: uuid.UUID | str) -> Call[models.Memory]:
    return call("get_memory", path={"memory_id": str(memory_id)})


def delete_memory(memory_id: uuid.UUID | str) -> Call[None]:
    return call("delete_memory", path={"memory_id": str(memory_id)})


def query_in(
    agent_id: str | None,
    agent_ids: Sequence[str] | None,
    tags: Sequence[str] | None,
    match: models.Match | None,
    min_importance: float | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    text: str | None,
    semantic: str | None,
    vector: Sequence[float] | None,
    min_score: float | None,
    order: models.Order | None,
    limit: int | None,
    cursor: str | None,
) -> models.QueryIn:
    return models.QueryIn(
        agent_id=unset(agent_id),
        agent_ids=models.UNSET if agent_ids is None else list(agent_ids),
        tags=models.UNSET if tags is None else list(tags),
        match=unset(match),
        min_importance=unset(min_importance),
        since=unset(since),
        until=unset(until),
        text=unset(text),
        semantic=unset(semantic),
        vector=models.UNSET if vector is None else list(vector),
        min_score=unset(min_score),
        order=unset(order),
        limit=unset(limit),
        cursor=unset(cursor),
    )


def query(body: models.QueryIn) -> Call[models.MemoryPage]:
    return call("query_memories", body=body)


def query_pages(body: models.QueryIn) -> Pages:
    def page(cursor: str | None) -> Call[models.MemoryPage]:
        return query(models.QueryIn(**{**_fields(body), "cursor": unset(cursor)}))

    return page


def agent_memories(agent_id: str, limit: int | None, cursor: str | None) -> Call[models.MemoryPage]:
    return call(
        "list_agent_memories",
        path={"agent_id": agent_id},
        params={"limit": limit, "cursor": cursor},
    )


def agent_memory_pages(agent_id: str, limit: int | None) -> Pages:
    return lambda cursor: agent_memories(agent_id, limit, cursor)


# -- messages -------------------------------------------------------------------------------------


def share(
    from_agent: str,
    to_agent: str,
    context: Mapping[str, Any],
    priority: models.Priority | None,
    ttl_seconds: int | None,
    idempotency_key: str | None,
) -> Call[models.Message]:
    body = models.ShareIn(
        from_agent=from_agent,
        to_agent=to_agent,
        context=dict(context),
        priority=unset(priority),
        ttl_seconds=unset(ttl_seconds),
    )
    return call("share_message", body=body, headers={"Idempotency-Key": idempotency_key})


def broadcast(
    from_agent: str,
    context: Mapping[str, Any],
    priority: models.Priority | None,
    ttl_seconds: int | None,
    idempotency_key: str | None,
) -> Call[models.Message]:
    body = models.BroadcastIn(
        from_agent=from_agent,
        context=dict(context),
        priority=unset(priority),
        ttl_seconds=unset(ttl_seconds),
    )
    return call("broadcast_message", body=body, headers={"Idempotency-Key": idempotency_key})


def take(
    agent_id: str, limit: int | None, wait: float | None, consumer: str | None
) -> Call[models.Inbox]:
    """A long poll waits up to `wait` seconds for the first message: the read may take as long."""
    return call(
        "take_messages",
        path={"agent_id": agent_id},
        params={"limit": limit, "wait": wait, "consumer": consumer},
        read_timeout=None if not wait else wait + 10.0,
    )


def ack(agent_id: str, message_ids: Iterable[uuid.UUID | str]) -> Call[models.Acked]:
    body = models.AckIn(ids=ids(message_ids))
    return call("ack_messages", path={"agent_id": agent_id}, body=body)


def stream(
    agent_id: str, consumer: str | None, last_event_id: str | None, read_timeout: float
) -> Call[None]:
    return call(
        "stream_messages",
        path={"agent_id": agent_id},
        params={"consumer": consumer},
        headers={LAST_EVENT_ID: last_event_id},
        read_timeout=read_timeout,
    )


def history(
    agent: str, peer: str, limit: int | None, before: dt.datetime | None, cursor: str | None
) -> Call[models.MessagePage]:
    params = {"agent": agent, "peer": peer, "limit": limit, "before": before, "cursor": cursor}
    return call("message_history", params=params)


def history_pages(agent: str, peer: str, limit: int | None, before: dt.datetime | None) -> Pages:
    return lambda cursor: history(agent, peer, limit, before, cursor)


def replay(
    agent_id: str, since: dt.datetime, limit: int | None, cursor: str | None
) -> Call[models.ReplayPage]:
    return call(
        "replay_messages",
        path={"agent_id": agent_id},
        params={"since": since, "limit": limit, "cursor": cursor},
    )


def replay_pages(agent_id: str, since: dt.datetime, limit: int | None) -> Pages:
    return lambda cursor: replay(agent_id, since, limit, cursor)


# -- admin ----------------------------------------------------------------------------------------


def stats() -> Call[models.Stats]:
    return call("stats")


def cleanup() -> Call[models.Cleanup]:
    return call("cleanup")


def clear(confirm: str) -> Call[None]:
    return call("clear", body=models.ClearIn(confirm=confirm))


def audit_log(limit: int | None, cursor: str | None) -> Call[models.AuditPage]:
    return call("audit_log", params={"limit": limit, "cursor": cursor})


def audit_pages(limit: int | None) -> Pages:
    return lambda cursor: audit_log(limit, cursor)


# -- workspaces and keys --------------------------------------------------------------------------


def create_workspace(workspace_id: str, name: str | None) -> Call[models.Workspace]:
    return call("create_workspace", body=models.WorkspaceIn(id=workspace_id, name=unset(name)))


def list_workspaces(limit: int | None, cursor: str | None) -> Call[models.WorkspacePage]:
    return call("list_workspaces", params={"limit": limit, "cursor": cursor})


def workspace_pages(limit: int | None) -> Pages:
    return lambda cursor: list_workspaces(limit, cursor)


def delete_workspace(workspace_id: str, confirm: str) -> Call[None]:
    return call(
        "delete_workspace", path={"workspace_id": workspace_id}, params={"confirm": confirm}
    )


def create_key(
    workspace_id: str,
    name: str,
    scopes: Sequence[models.Scope],
    agent_id: str | None,
    expires_at: dt.datetime | None,
    rate_limit: models.RateLimit | None,
) -> Call[models.NewKey]:
    body = models.KeyIn(
        name=name,
        scopes=list(scopes),
        agent_id=unset(agent_id),
        expires_at=unset(expires_at),
        rate_limit=unset(rate_limit),
    )
    return call("create_key", path={"workspace_id": workspace_id}, body=body)


def list_keys(workspace_id: str) -> Call[models.KeyList]:
    return call("list_keys", path={"workspace_id": workspace_id})


def revoke_key(workspace_id: str, key_id: uuid.UUID | str) -> Call[None]:
    return call("revoke_key", path={"workspace_id": workspace_id, "key_id": str(key_id)})


# -- health ---------------------------------------------------------------------------------------


def live() -> Call[models.Live]:
    return call("live")


def ready() -> Call[models.Ready]:
    return call("ready")


def _fields(struct: models.QueryIn) -> dict[str, Any]:
    return {name: getattr(struct, name) for name in struct.__struct_fields__}
