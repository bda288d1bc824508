"""HTTP routes of the admin area: stats, cleanup, clear."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Router, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter

from brain.admin.schemas import CONFIRMATION, AuditPage, Cleanup, ClearIn, Stats
from brain.admin.service import AdminService
from brain.kit import auth, http, openapi

Admin = NamedDependency[AdminService]
Limit = Annotated[int, QueryParameter(ge=1, le=500, description="page size, 1-500 (100)")]


@get(
    "/stats",
    operation_id="stats",
    summary="Counts of agents, memories, messages and cache use",
    responses=openapi.responses(200, Stats, "The counts.", 401, 503),
    opt=auth.needs("admin"),
)
async def stats(admin: Admin, workspace: auth.Workspace) -> dict[str, Any]:
    """Live memories in all and by agent, messages and unacknowledged deliveries, the outbox
    backlog, and the cache's hits and misses."""
    return await admin.stats(workspace)


@post(
    "/admin/cleanup",
    operation_id="cleanup",
    summary="Delete expired data now",
    status_code=200,
    responses=openapi.responses(200, Cleanup, "What was deleted.", 401, 503),
    opt=auth.needs("admin"),
)
async def cleanup(
    admin: Admin, workspace: auth.Workspace, principal: auth.Caller
) -> dict[str, int]:
    """Expired memories, day-old idempotency keys, stream entries past the retention and
    history past its window (what `brain cleanup` does). Recorded in the audit log."""
    return await admin.audited_cleanup(workspace, principal.key_id)


@post(
    "/admin/clear",
    operation_id="clear",
    summary=f'Delete all data; body {{"confirm": "{CONFIRMATION}"}}',
    status_code=204,
    responses=openapi.responses(204, None, "Everything is gone.", 400, 401, 413, 415, 422, 503),
    opt=auth.needs("admin"),
)
async def clear(
    data: JSONBody[ClearIn], admin: Admin, workspace: auth.Workspace, principal: auth.Caller
) -> None:
    """Every agent, memory, message and idempotency key of the workspace, then its cache
    entries and delivery streams. Its API keys and audit log stay; the clear is recorded."""
    await admin.clear(workspace, principal.key_id)


@get(
    "/audit",
    operation_id="audit_log",
    summary="The workspace's audit log, newest first",
    responses=openapi.responses(200, AuditPage, "A page of the log.", *openapi.READ),
    opt=auth.needs("admin"),
)
async def audit_log(
    admin: Admin, workspace: auth.Workspace, limit: Limit = 100, cursor: http.Cursor = None
) -> http.Raw:
    """Keys created and revoked, clear, cleanup, agent exports and purges (and, in `default`,
    workspaces created and deleted), each with the key that did it (null: the admin token),
    the request id and the time."""
    return http.raw_json(await admin.audit(workspace, limit, cursor))


router = Router("/", route_handlers=[stats, cleanup, clear, audit_log], tags=["admin"])
