"""HTTP routes of workspaces (admin token) and their API keys (admin token, or a key of the
workspace with scope `admin`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Router, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, PathParameter, QueryParameter

from brain.kit import auth, http, openapi
from brain.workspaces.schemas import KeyIn, KeyList, NewKey, Workspace, WorkspaceIn, WorkspacePage
from brain.workspaces.service import WorkspaceService

Workspaces = NamedDependency[WorkspaceService]
WorkspacePath = Annotated[str, PathParameter(**http.ID_RULES, description="workspace id")]
Limit = Annotated[int, QueryParameter(ge=1, le=500, description="page size, 1-500 (500)")]
AfterWorkspace = Annotated[
    str | None,
    QueryParameter(
        **http.ID_RULES,
        description="`next_cursor` of the previous page: the last workspace id it held",
    ),
]
Confirm = Annotated[
    str | None,
    QueryParameter(max_length=64, description="the workspace id again: the erase is for good"),
]


@post(
    "/workspaces",
    operation_id="create_workspace",
    summary="Create a workspace (admin token)",
    status_code=201,
    responses=openapi.responses(201, Workspace, "The new workspace.", *openapi.WRITE),
    opt=auth.needs(auth.ADMIN_TOKEN),
)
async def create(data: JSONBody[WorkspaceIn], workspaces: Workspaces) -> http.Raw:
    """A workspace holds its own agents, memories, messages, keys and audit log, apart from
    every other's. 409 when the id is taken."""
    return http.raw_json(await workspaces.create(data), 201)


@get(
    "/workspaces",
    operation_id="list_workspaces",
    summary="List workspaces, by id (admin token)",
    responses=openapi.responses(200, WorkspacePage, "A page of workspaces.", *openapi.READ),
    opt=auth.needs(auth.ADMIN_TOKEN),
)
async def index(
    workspaces: Workspaces, limit: Limit = 500, cursor: AfterWorkspace = None
) -> http.Raw:
    """Workspaces in id order; pass `next_cursor` back as `cursor` for the next page."""
    return http.raw_json(await workspaces.list(limit, cursor))


@delete(
    "/workspaces/{workspace_id:str}",
    operation_id="delete_workspace",
    summary="Delete a workspace and erase all its data (admin token)",
    status_code=204,
    responses=openapi.responses(204, None, "Erased.", 401, 404, 422, 503),
    opt=auth.needs(auth.ADMIN_TOKEN),
)
async def remove(
    workspace_id: WorkspacePath, workspaces: Workspaces, confirm: Confirm = None
) -> None:
    """Every agent, memory, message, delivery, idempotency key, API key and audit entry of the
    workspace, its cache entries and delivery streams; `confirm` must repeat the id (422
    otherwise). Its keys stop working on every replica within half a second. `default` stays."""
    await workspaces.delete(workspace_id, confirm)


@post(
    "/workspaces/{workspace_id:str}/keys",
    operation_id="create_key",
    summary="Create an API key; its secret is shown once",
    status_code=201,
    responses=openapi.responses(
        201,
        NewKey,
        "The key, with its secret: store it now.",
        400,
        401,
        404,
        409,
        413,
        415,
        422,
        503,
    ),
    opt=auth.needs("admin"),
)
async def create_key(
    workspace_id: WorkspacePath,
    data: JSONBody[KeyIn],
    workspaces: Workspaces,
    principal: auth.Caller,
    workspace: auth.Workspace,
) -> http.Raw:
    """A key works in this workspace only, with its `scopes`; with `agent_id` it acts as that
    agent only. PostgreSQL keeps only a hash of the secret."""
    return http.raw_json(await workspaces.create_key(principal, workspace, data), 201)


@get(
    "/workspaces/{workspace_id:str}/keys",
    operation_id="list_keys",
    summary="List the workspace's live API keys (never their secrets)",
    responses=openapi.responses(200, KeyList, "The keys, oldest first.", 401, 404, 422, 503),
    opt=auth.needs("admin"),
)
async def keys(
    workspace_id: WorkspacePath, workspaces: Workspaces, workspace: auth.Workspace
) -> http.Raw:
    """Each with its `prefix` (to tell it apart) and `last_used_at` (to the minute)."""
    return http.raw_json(await workspaces.list_keys(workspace))


@delete(
    "/workspaces/{workspace_id:str}/keys/{key_id:uuid}",
    operation_id="revoke_key",
    summary="Revoke an API key",
    status_code=204,
    responses=openapi.responses(204, None, "Revoked.", 401, 404, 422, 503),
    opt=auth.needs("admin"),
)
async def revoke(
    workspace_id: WorkspacePath,
    key_id: FromPath[uuid.UUID],
    workspaces: Workspaces,
    principal: auth.Caller,
    workspace: auth.Workspace,
) -> None:
    """The key stops working at once on this replica and within half a second on every other."""
    await workspaces.revoke_key(principal, workspace, key_id)


router = Router(
    "/", route_handlers=[create, index, remove, create_key, keys, revoke], tags=["workspaces"]
)
