"""HTTP routes of the agent registry."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, delete, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from brain import auth, fields, http
from brain.agents.schemas import AgentIn
from brain.agents.service import AgentService

Agents = NamedDependency[AgentService]
Limit = Annotated[int | None, QueryParameter(description="page size, 1-500 (default 500)")]


@put("/agents/{agent_id:str}", summary="Register or update an agent (201 new, 200 updated)")
async def register(
    agent_id: FromPath[str], data: JSONBody[AgentIn], agents: Agents, workspace: auth.Workspace
) -> http.Raw:
    body, created = await agents.register(workspace, agent_id, data)
    return http.raw_json(body, 201 if created else 200)


@get("/agents", summary="List registered agents, by id")
async def index(
    agents: Agents,
    workspace: auth.Workspace,
    limit: Limit = None,
    cursor: FromQuery[str | None] = None,
) -> http.Raw:
    return http.raw_json(await agents.list(workspace, fields.page_size(limit, 500), cursor))


@get("/agents/{agent_id:str}", summary="Get an agent")
async def read(agent_id: FromPath[str], agents: Agents, workspace: auth.Workspace) -> http.Raw:
    return http.raw_json(await agents.get(workspace, agent_id))


@delete("/agents/{agent_id:str}", status_code=204, summary="Unregister an agent")
async def remove(agent_id: FromPath[str], agents: Agents, workspace: auth.Workspace) -> None:
    await agents.delete(workspace, agent_id)


router = Router("/", route_handlers=[register, index, read, remove], tags=["agents"])
