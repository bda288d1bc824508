"""HTTP routes of messaging."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from brain import auth, errors, fields, http
from brain.memory.routes import IdempotencyKey
from brain.messaging.schemas import AckIn, BroadcastIn, ShareIn
from brain.messaging.service import MAX_WAIT_SECONDS, MessageService

log = logging.getLogger("brain.messaging")

Messages = NamedDependency[MessageService]
MAX_PENDING = 100
Consumer = Annotated[
    str, QueryParameter(description="consumer name (replicas of one agent share the work)")
]


def _consumer(name: str) -> str:
    return fields.agent_id(name, field="consumer")


def _seq_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or len(cursor) > 19:
        raise errors.Invalid("cursor is not one this service issued", field="cursor")
    return int(cursor)


@post("/messages", status_code=201, summary="Send a message to one agent")
async def share(
    data: JSONBody[ShareIn],
    messages: Messages,
    workspace: auth.Workspace,
    idempotency_key: IdempotencyKey = None,
) -> http.Raw:
    return http.written(await messages.share(workspace, data, idempotency_key))


@post("/messages/broadcast", status_code=201, summary="Send a message to every other agent")
async def broadcast(
    data: JSONBody[BroadcastIn],
    messages: Messages,
    workspace: auth.Workspace,
    idempotency_key: IdempotencyKey = None,
) -> http.Raw:
    return http.written(await messages.broadcast(workspace, data, idempotency_key))


@get("/agents/{agent_id:str}/messages", summary="Take pending messages (long-poll with wait)")
async def pending(
    agent_id: FromPath[str],
    messages: Messages,
    workspace: auth.Workspace,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_PENDING)] = 10,
    wait: Annotated[float, QueryParameter(ge=0, le=MAX_WAIT_SECONDS)] = 0,
    consumer: Consumer = "default",
) -> http.Raw:
    agent = fields.agent_id(agent_id)
    body = await messages.pending(workspace, agent, _consumer(consumer), limit, wait)
    return http.raw_json(body)


@post("/agents/{agent_id:str}/messages/ack", status_code=200, summary="Acknowledge messages")
async def ack(
    agent_id: FromPath[str], data: JSONBody[AckIn], messages: Messages, workspace: auth.Workspace
) -> dict[str, int]:
    return {"acked": await messages.ack(workspace, fields.agent_id(agent_id), data.ids)}


@get("/agents/{agent_id:str}/messages/stream", summary="Push messages as Server-Sent Events")
async def stream(
    agent_id: FromPath[str],
    messages: Messages,
    workspace: auth.Workspace,
    consumer: Consumer = "sse",
    last_event_id: Annotated[str | None, HeaderParameter(name="Last-Event-ID")] = None,
) -> ServerSentEvent:
    agent = fields.agent_id(agent_id)
    follow = await messages.events(workspace, agent, _consumer(consumer), last_event_id)

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        try:
            async for delivery in follow:
                if delivery is None:
                    yield ServerSentEventMessage(comment="heartbeat")
                else:
                    data = delivery.as_json().decode()
                    yield ServerSentEventMessage(data=data, event="message", id=delivery.message_id)
        except errors.Unavailable as exc:  # the client reconnects with Last-Event-ID
            log.warning("event stream ended: %s", exc.detail)

    return ServerSentEvent(events(), retry_duration=2000)


@get("/messages/history", summary="Messages between two agents, both ways, newest first")
async def history(
    messages: Messages,
    workspace: auth.Workspace,
    agent: FromQuery[str],
    peer: FromQuery[str],
    limit: Annotated[int, QueryParameter(ge=1, le=fields.MAX_PAGE)] = 50,
    before: FromQuery[dt.datetime | None] = None,
    cursor: FromQuery[str | None] = None,
) -> http.Raw:
    a, b = fields.agent_id(agent, "agent"), fields.agent_id(peer, "peer")
    return http.raw_json(
        await messages.history(
            workspace, a, b, limit, _aware(before, "before"), _seq_cursor(cursor)
        )
    )


@get("/agents/{agent_id:str}/messages/replay", summary="Every message to the agent since a time")
async def replay(
    agent_id: FromPath[str],
    messages: Messages,
    workspace: auth.Workspace,
    since: FromQuery[dt.datetime],
    limit: Annotated[int, QueryParameter(ge=1, le=fields.MAX_PAGE)] = 100,
    cursor: FromQuery[str | None] = None,
) -> http.Raw:
    agent = fields.agent_id(agent_id)
    since_at = _aware(since, "since")
    assert since_at is not None
    return http.raw_json(
        await messages.replay(workspace, agent, since_at, limit, _seq_cursor(cursor))
    )


def _aware(value: Any, field: str) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        raise errors.Invalid(f"{field} needs a UTC offset (RFC 3339)", field=field)
    return value  # type: ignore[no-any-return]


router = Router(
    "/", route_handlers=[share, broadcast, pending, ack, stream, history, replay], tags=["messages"]
)
