"""HTTP routes of memories: parse, call the service, answer."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Router, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter

from brain import auth, fields, http, idempotency
from brain.memory.schemas import MAX_BATCH, MAX_BATCH_BYTES, BatchIn, MemoryIn, QueryIn
from brain.memory.service import MemoryService

Memories = NamedDependency[MemoryService]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(name=idempotency.HEADER, description="Retry-safe key (G5), 1-255 chars"),
]
Limit = Annotated[int | None, QueryParameter(description="page size, 1-500 (default 20)")]


@post("/memories", status_code=201, summary="Store a memory")
async def store(
    data: JSONBody[MemoryIn],
    memories: Memories,
    workspace: auth.Workspace,
    idempotency_key: IdempotencyKey = None,
) -> http.Raw:
    return http.written(await memories.store(workspace, data, idempotency_key))


@post(
    "/memories/batch",
    status_code=201,
    summary=f"Store 1-{MAX_BATCH} memories at once (all or none)",
    request_max_body_size=MAX_BATCH_BYTES,
)
async def store_batch(
    data: JSONBody[BatchIn],
    memories: Memories,
    workspace: auth.Workspace,
    idempotency_key: IdempotencyKey = None,
) -> http.Raw:
    return http.written(await memories.store_batch(workspace, data, idempotency_key))


@get("/memories/{memory_id:uuid}", summary="Get a memory (expired = 404)")
async def read(
    memory_id: FromPath[uuid.UUID], memories: Memories, workspace: auth.Workspace
) -> http.Raw:
    return http.cached(*await memories.get(workspace, memory_id))


@delete("/memories/{memory_id:uuid}", status_code=204, summary="Delete a memory")
async def remove(
    memory_id: FromPath[uuid.UUID], memories: Memories, workspace: auth.Workspace
) -> None:
    await memories.delete(workspace, memory_id)


@post("/memories/query", status_code=200, summary="Query memories (cached)")
async def query(data: JSONBody[QueryIn], memories: Memories, workspace: auth.Workspace) -> http.Raw:
    return http.cached(*await memories.query(workspace, data))


@get("/agents/{agent_id:str}/memories", summary="An agent's memories, newest first")
async def history(
    agent_id: FromPath[str],
    memories: Memories,
    workspace: auth.Workspace,
    limit: Limit = None,
    cursor: FromQuery[str | None] = None,
) -> http.Raw:
    agent = fields.agent_id(agent_id)
    size = fields.page_size(limit, 20)
    return http.cached(*await memories.history(workspace, agent, size, cursor))


router = Router(
    "/", route_handlers=[store, store_batch, read, remove, query, history], tags=["memories"]
)
