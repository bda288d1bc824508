"""HTTP routes of the agent registry."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, delete, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from litestar.response import Stream

from brain.agents.schemas import Agent, AgentIn, AgentPage
from brain.agents.service import AgentService
from brain.kit import auth, errors, http, openapi

Agents = NamedDependency[AgentService]
NDJSON = "application/x-ndjson"
Limit = Annotated[int, QueryParameter(ge=1, le=500, description="page size, 1-500 (500)")]
AfterAgent = Annotated[
    str | None,
    QueryParameter(
        **http.ID_RULES, description="`next_cursor` of the previous page: the last agent id it held"
    ),
]
TO_AGENT = {
    "get": ("get_agent", {"agent_id": "$response.body#/id"}),
    "unregister": ("unregister_agent", {"agent_id": "$response.body#/id"}),
    "memories": ("list_agent_memories", {"agent_id": "$response.body#/id"}),
    "inbox": ("take_messages", {"agent_id": "$response.body#/id"}),
}


@put(
    "/agents/{agent_id:str}",
    operation_id="register_agent",
    summary="Register or update an agent (201 new, 200 updated)",
    status_code=200,
    responses={
        **openapi.responses(200, Agent, "Updated: the registration as it is now.", *openapi.WRITE),
        **openapi.responses(201, Agent, "Registered: the new agent."),
    },
    opt={"links": {200: TO_AGENT, 201: TO_AGENT}, **auth.needs("agents:write")},
)
async def register(
    agent_id: http.AgentPath,
    data: JSONBody[AgentIn],
    agents: Agents,
    workspace: auth.Workspace,
    principal: auth.Caller,
) -> http.Raw:
    """Create or replace a registration: name, role, capabilities and metadata as a whole."""
    principal.acting_as(agent_id, "agent_id")
    body, created = await agents.register(workspace, agent_id, data)
    return http.raw_json(body, 201 if created else 200)


@get(
    "/agents",
    operation_id="list_agents",
    summary="List registered agents, by id",
    responses=openapi.responses(200, AgentPage, "A page of agents.", *openapi.READ),
    opt=auth.needs("agents:read"),
)
async def index(
    agents: Agents,
    workspace: auth.Workspace,
    limit: Limit = 500,
    cursor: AfterAgent = None,
) -> http.Raw:
    """Agents in id order; pass `next_cursor` back as `cursor` for the next page."""
    return http.raw_json(await agents.list(workspace, limit, cursor))


@get(
    "/agents/{agent_id:str}",
    operation_id="get_agent",
    summary="Get an agent",
    responses=openapi.responses(200, Agent, "The agent.", 401, 404, 422, 503),
    opt=auth.needs("agents:read"),
)
async def read(agent_id: http.AgentPath, agents: Agents, workspace: auth.Workspace) -> http.Raw:
    """One registration."""
    return http.raw_json(await agents.get(workspace, agent_id))


@delete(
    "/agents/{agent_id:str}",
    operation_id="unregister_agent",
    summary="Unregister an agent",
    status_code=204,
    responses=openapi.responses(204, None, "Unregistered.", 401, 404, 422, 503),
    opt=auth.needs("agents:write"),
)
async def remove(
    agent_id: http.AgentPath,
    agents: Agents,
    workspace: auth.Workspace,
    principal: auth.Caller,
    purge: Annotated[
        bool,
        QueryParameter(
            description="erase everything held of the agent too (needs the scope admin)"
        ),
    ] = False,
) -> None:
    """Remove the registration; the agent's memories stay (they are shared knowledge). With
    `purge=true`: erase its memories, messages (sent, and sent to it), deliveries, cache and
    stream entries as well, in one transaction, recorded in the audit log (204 also when
    nothing of it was left)."""
    principal.acting_as(agent_id, "agent_id")
    if not purge:
        await agents.delete(workspace, agent_id)
        return
    if "admin" not in principal.scopes:
        raise errors.Forbidden("purge=true needs the scope admin", field="purge")
    await agents.erase_agent(workspace, agent_id, principal.key_id)


@get(
    "/agents/{agent_id:str}/export",
    operation_id="export_agent",
    summary="Export everything held of an agent (NDJSON)",
    responses=openapi.responses(
        200,
        str,
        'One JSON object per line: `{"type": "agent"|"memory"|"message", "data": '
        "{...}}`, the registration first; received messages carry `acked_at`.",
        401,
        404,
        422,
        503,
        media_type=NDJSON,
    ),
    opt=auth.needs("admin"),
)
async def export(
    agent_id: http.AgentPath, agents: Agents, workspace: auth.Workspace, principal: auth.Caller
) -> Stream:
    """The agent's registration, memories and messages, streamed a page at a time (for a data
    subject's access request); recorded in the audit log."""
    lines = await agents.export_agent(workspace, agent_id, principal.key_id)
    disposition = f'attachment; filename="{agent_id}.ndjson"'
    return Stream(lines, media_type=NDJSON, headers={"Content-Disposition": disposition})


router = Router("/", route_handlers=[register, index, read, remove, export], tags=["agents"])
