"""HTTP routes of the admin area: stats, cleanup, clear."""

from __future__ import annotations

from typing import Any

from litestar import Router, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from brain.admin.schemas import CONFIRMATION, Cleanup, ClearIn, Stats
from brain.admin.service import AdminService
from brain.kit import auth, openapi

Admin = NamedDependency[AdminService]


@get(
    "/stats",
    operation_id="stats",
    summary="Counts of agents, memories, messages and cache use",
    responses=openapi.responses(200, Stats, "The counts.", 401, 503),
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
)
async def cleanup(admin: Admin, workspace: auth.Workspace) -> dict[str, int]:
    """Expired memories, day-old idempotency keys, stream entries past the retention and
    history past its window (what `brain cleanup` does)."""
    return await admin.cleanup(workspace)


@post(
    "/admin/clear",
    operation_id="clear",
    summary=f'Delete all data; body {{"confirm": "{CONFIRMATION}"}}',
    status_code=204,
    responses=openapi.responses(204, None, "Everything is gone.", 400, 401, 413, 415, 422, 503),
)
async def clear(data: JSONBody[ClearIn], admin: Admin, workspace: auth.Workspace) -> None:
    """Every agent, memory, message and idempotency key of the workspace, then its cache
    entries and delivery streams."""
    await admin.clear(workspace)


router = Router("/", route_handlers=[stats, cleanup, clear], tags=["admin"])
