"""HTTP routes of memories: parse, call the service, answer."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Router, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from brain.kit import auth, http, openapi
from brain.memory.schemas import (
    MAX_BATCH,
    MAX_BATCH_BYTES,
    BatchIn,
    Memory,
    MemoryIn,
    MemoryList,
    MemoryPage,
    QueryIn,
)
from brain.memory.service import MemoryService

Memories = NamedDependency[MemoryService]
Limit = Annotated[int, QueryParameter(ge=1, le=500, description="page size, 1-500 (20)")]
CACHED = {"headers": ("X-Brain-Cache",)}
TO_MEMORY = {
    "get": ("get_memory", {"memory_id": "$response.body#/id"}),
    "delete": ("delete_memory", {"memory_id": "$response.body#/id"}),
}


@post(
    "/memories",
    operation_id="store_memory",
    summary="Store a memory",
    status_code=201,
    responses={
        **openapi.responses(201, Memory, "The memory, as stored.", *openapi.WRITE),
        **openapi.responses(
            200,
            Memory,
            "With `dedupe`: a near duplicate was found; it is answered, with "
            "`duplicate_of`, and nothing is stored.",
        ),
    },
    opt={"links": {201: TO_MEMORY}, **auth.needs("memories:write")},
)
async def store(
    data: JSONBody[MemoryIn],
    memories: Memories,
    workspace: auth.Workspace,
    principal: auth.Caller,
    idempotency_key: http.IdempotencyKey = None,
) -> http.Raw:
    """Commit a memory in PostgreSQL, then answer it. Tags are stored in Unicode NFC, each once;
    `ttl_seconds` or `expires_at` (not both) set when it stops being returned."""
    principal.acting_as(data.agent_id, "agent_id")
    return http.written(await memories.store(workspace, data, idempotency_key))


@post(
    "/memories/batch",
    operation_id="store_memories",
    summary=f"Store 1-{MAX_BATCH} memories at once (all or none)",
    status_code=201,
    request_max_body_size=MAX_BATCH_BYTES,
    responses=openapi.responses(
        201, MemoryList, "The memories, in the order given.", *openapi.WRITE
    ),
    opt=auth.needs("memories:write"),
)
async def store_batch(
    data: JSONBody[BatchIn],
    memories: Memories,
    workspace: auth.Workspace,
    principal: auth.Caller,
    idempotency_key: http.IdempotencyKey = None,
) -> http.Raw:
    """Commit every memory in one statement, or none: an error names the item (`items[3].tags`).
    One Idempotency-Key covers the whole batch."""
    principal.acting_as_any((i.agent_id for i in data.items), "items[{n}].agent_id")
    return http.written(await memories.store_batch(workspace, data, idempotency_key))


@get(
    "/memories/{memory_id:uuid}",
    operation_id="get_memory",
    summary="Get a memory (expired = 404)",
    responses=openapi.responses(200, Memory, "The memory.", 401, 404, 503),
    opt={**CACHED, **auth.needs("memories:read")},
)
async def read(
    memory_id: FromPath[uuid.UUID], memories: Memories, workspace: auth.Workspace
) -> http.Raw:
    """One memory by id, from the cache when it holds it."""
    return http.cached(*await memories.get(workspace, memory_id))


@delete(
    "/memories/{memory_id:uuid}",
    operation_id="delete_memory",
    summary="Delete a memory",
    status_code=204,
    responses=openapi.responses(204, None, "Deleted.", 401, 404, 503),
    opt=auth.needs("memories:write"),
)
async def remove(
    memory_id: FromPath[uuid.UUID],
    memories: Memories,
    workspace: auth.Workspace,
    principal: auth.Caller,
) -> None:
    """Delete a memory; queries no longer return it from the moment this answers. An
    agent-bound key deletes its own agent's memories only."""
    await memories.delete(workspace, memory_id, principal.agent_id)


@post(
    "/memories/query",
    operation_id="query_memories",
    summary="Query memories (cached)",
    status_code=200,
    responses=openapi.responses(
        200, MemoryPage, "A page of memories.", 400, 401, 413, 415, 422, 503
    ),
    opt={**CACHED, **auth.needs("memories:read")},
)
async def query(data: JSONBody[QueryIn], memories: Memories, workspace: auth.Workspace) -> http.Raw:
    """Memories by agent, tags (`match`: any or all), importance, creation time and full-text
    `text`, newest first or by importance; keyset pages (pass `next_cursor` back as `cursor`
    with the same filters). Without an agent filter, across all agents."""
    return http.cached(*await memories.query(workspace, data))


@get(
    "/agents/{agent_id:str}/memories",
    operation_id="list_agent_memories",
    summary="An agent's memories, newest first",
    responses=openapi.responses(200, MemoryPage, "A page of the agent's memories.", *openapi.READ),
    opt={**CACHED, **auth.needs("memories:read")},
)
async def history(
    agent_id: http.AgentPath,
    memories: Memories,
    workspace: auth.Workspace,
    limit: Limit = 20,
    cursor: http.Cursor = None,
) -> http.Raw:
    """The query with only this agent as its filter."""
    return http.cached(*await memories.history(workspace, agent_id, limit, cursor))


router = Router(
    "/", route_handlers=[store, store_batch, read, remove, query, history], tags=["memories"]
)
