"""HTTP routes of messaging."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated

from litestar import Router, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from brain.kit import auth, background, errors, fields, http, openapi
from brain.messaging.schemas import (
    Acked,
    AckIn,
    BroadcastIn,
    Inbox,
    Message,
    MessagePage,
    ReplayPage,
    ShareIn,
)
from brain.messaging.service import MAX_WAIT_SECONDS, MessageService

log = logging.getLogger("brain.messaging")

Messages = NamedDependency[MessageService]
MAX_PENDING = fields.MAX_PENDING
TO_INBOX = {"recipient_inbox": ("take_messages", {"agent_id": "$response.body#/to_agent"})}


@post(
    "/messages",
    operation_id="share_message",
    summary="Send a message to one agent",
    status_code=201,
    responses=openapi.responses(201, Message, "The message, committed.", 404, *openapi.WRITE),
    opt={"links": {201: TO_INBOX}, **auth.needs("messages:write")},
)
async def share(
    data: JSONBody[ShareIn],
    messages: Messages,
    workspace: auth.Workspace,
    principal: auth.Caller,
    idempotency_key: http.IdempotencyKey = None,
) -> http.Raw:
    """Commit the message in PostgreSQL (then it is delivered, at least once, until the
    recipient acknowledges it). An unregistered sender or recipient: 404 naming it."""
    principal.acting_as(data.from_agent, "from_agent")
    return http.written(await messages.share(workspace, data, idempotency_key))


@post(
    "/messages/broadcast",
    operation_id="broadcast_message",
    summary="Send a message to every other agent",
    status_code=201,
    responses=openapi.responses(201, Message, "The message, committed.", 404, *openapi.WRITE),
    opt=auth.needs("messages:write"),
)
async def broadcast(
    data: JSONBody[BroadcastIn],
    messages: Messages,
    workspace: auth.Workspace,
    principal: auth.Caller,
    idempotency_key: http.IdempotencyKey = None,
) -> http.Raw:
    """To every agent registered now but the sender; `to_agent` is null."""
    principal.acting_as(data.from_agent, "from_agent")
    return http.written(await messages.broadcast(workspace, data, idempotency_key))


@get(
    "/agents/{agent_id:str}/messages",
    operation_id="take_messages",
    summary="Take pending messages (long-poll with wait)",
    responses=openapi.responses(200, Inbox, "The messages taken (maybe none).", *openapi.READ),
    opt=auth.needs("messages:read"),
)
async def pending(
    agent_id: http.AgentPath,
    messages: Messages,
    workspace: auth.Workspace,
    principal: auth.Caller,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_PENDING, description="1-100 (10)")] = 10,
    wait: Annotated[
        float, QueryParameter(ge=0, le=MAX_WAIT_SECONDS, description="long-poll seconds, 0-30")
    ] = 0,
    consumer: http.Consumer = "default",
) -> http.Raw:
    """New messages and those whose lease expired, urgent first, then oldest first. Each is
    leased to this consumer until acknowledged or BRAIN_VISIBILITY_TIMEOUT_SECONDS pass."""
    principal.acting_as(agent_id, "agent_id")
    body = await messages.pending(workspace, agent_id, consumer, limit, wait)
    return http.raw_json(body)


@post(
    "/agents/{agent_id:str}/messages/ack",
    operation_id="ack_messages",
    summary="Acknowledge messages",
    status_code=200,
    responses=openapi.responses(
        200, Acked, "How many of the ids are addressed to the agent.", 400, 401, 413, 415, 422, 503
    ),
    opt=auth.needs("messages:read"),
)
async def ack(
    agent_id: http.AgentPath,
    data: JSONBody[AckIn],
    messages: Messages,
    workspace: auth.Workspace,
    principal: auth.Caller,
) -> dict[str, int]:
    """Done with these messages: they are not delivered again."""
    principal.acting_as(agent_id, "agent_id")
    return {"acked": await messages.ack(workspace, agent_id, data.ids)}


@get(
    "/agents/{agent_id:str}/messages/stream",
    operation_id="stream_messages",
    summary="Push messages as Server-Sent Events",
    responses=openapi.responses(
        200,
        str,
        "One `message` event per message (`id:` the message id, `data:` the message with "
        "`delivery_count`), a `: heartbeat` comment every 15 s.",
        *openapi.READ,
        media_type="text/event-stream",
    ),
    opt=auth.needs("messages:read"),
)
async def stream(
    agent_id: http.AgentPath,
    messages: Messages,
    workspace: auth.Workspace,
    principal: auth.Caller,
    state: State,
    consumer: http.Consumer = "sse",
    last_event_id: Annotated[
        str | None,
        HeaderParameter(
            name="Last-Event-ID", max_length=64, description="resume after this message id"
        ),
    ] = None,
) -> ServerSentEvent:
    """Messages as they arrive, taken as consumer `sse` (or `consumer`); acknowledge them with
    the ack route. On reconnect with Last-Event-ID, first the unacknowledged ones sent after it."""
    principal.acting_as(agent_id, "agent_id")
    follow = await messages.events(workspace, agent_id, consumer, last_event_id)

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        try:
            async for delivery in background.until(state.draining, follow):
                if delivery is None:
                    yield ServerSentEventMessage(comment="heartbeat")
                else:
                    data = delivery.as_json().decode()
                    yield ServerSentEventMessage(data=data, event="message", id=delivery.message_id)
        except errors.Unavailable as exc:  # the client reconnects with Last-Event-ID
            log.warning("event stream ended: %s", exc.detail)

    return ServerSentEvent(events(), retry_duration=2000)


@get(
    "/messages/history",
    operation_id="message_history",
    summary="Messages between two agents, both ways, newest first",
    responses=openapi.responses(200, MessagePage, "A page of messages.", *openapi.READ),
    opt=auth.needs("messages:read"),
)
async def history(
    messages: Messages,
    workspace: auth.Workspace,
    principal: auth.Caller,
    agent: http.AgentQuery,
    peer: http.AgentQuery,
    limit: Annotated[int, QueryParameter(ge=1, le=fields.MAX_PAGE, description="1-500 (50)")] = 50,
    before: http.Time = None,
    cursor: http.Cursor = None,
) -> http.Raw:
    """Direct messages from `agent` to `peer` and back, created before `before` (if given)."""
    principal.acting_as(agent if principal.agent_id in (None, agent) else peer, "agent")
    at = fields.timestamp(before, "before")
    return http.raw_json(await messages.history(workspace, agent, peer, limit, at, cursor))


@get(
    "/agents/{agent_id:str}/messages/replay",
    operation_id="replay_messages",
    summary="Every message to the agent since a time",
    responses=openapi.responses(
        200, ReplayPage, "A page of messages, oldest first.", *openapi.READ
    ),
    opt=auth.needs("messages:read"),
)
async def replay(
    agent_id: http.AgentPath,
    messages: Messages,
    workspace: auth.Workspace,
    principal: auth.Caller,
    since: Annotated[
        str, QueryParameter(format="date-time", description="RFC 3339 with a UTC offset")
    ],
    limit: Annotated[
        int, QueryParameter(ge=1, le=fields.MAX_PAGE, description="1-500 (100)")
    ] = 100,
    cursor: http.Cursor = None,
) -> http.Raw:
    """Direct and broadcast messages addressed to the agent since `since`, acknowledged or not
    (`acked_at`)."""
    principal.acting_as(agent_id, "agent_id")
    at = fields.timestamp(since, "since")
    assert at is not None
    return http.raw_json(await messages.replay(workspace, agent_id, at, limit, cursor))


router = Router(
    "/", route_handlers=[share, broadcast, pending, ack, stream, history, replay], tags=["messages"]
)
