"""What the app knows of an area (agents, memory, messaging, admin): its router, and how to build
its service from the resources the app's lifespans open. Adding an area is one line in app.py.

An area whose data lives per workspace also offers it to the stats, cleanup and clear of the
admin area through `WorkspaceData`, so that admin never imports another area.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, Protocol, runtime_checkable

from litestar import Router

from brain.kit import auth, cache, db, idempotency, pagination, redis_client
from brain.settings import Settings


@dataclasses.dataclass
class Resources:
    """The pools, clients and settings an area's service is built from (the app's lifespans)."""

    settings: Settings
    db: db.Database
    redis: redis_client.Client | None
    blocking: redis_client.Client | None
    """A Redis client for blocking reads (long polls), apart from the one for quick calls."""
    cache: cache.Cache
    cursors: pagination.Cursors
    auth: auth.Authenticator
    serving: bool
    """False for a one-shot command (`brain cleanup`): no background work."""
    run_relay: bool
    data: list[WorkspaceData] = dataclasses.field(default_factory=list)
    """What the areas built so far keep per workspace, in the order of the app's areas."""


@dataclasses.dataclass(frozen=True)
class Area:
    """An area as the app wires it: `name` is the dependency its handlers take."""

    name: str
    router: Router
    build: Callable[[Resources], Any]


@runtime_checkable
class Background(Protocol):
    """A service with background work, run while the app serves."""

    def background(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        """The tasks to run until `stop` is set."""
        ...

    async def drain(self) -> None:
        """After the tasks ended: finish what they left (buffers, marks)."""
        ...


@runtime_checkable
class WorkspaceData(Protocol):
    """What an area keeps per workspace, as the admin area's stats, cleanup and clear see it."""

    key: str
    """Its entry in `/v1/stats`."""

    async def counts(self, workspace: str) -> Any:
        """Its figures for `/v1/stats`."""
        ...

    async def cleanup(self, workspace: str) -> dict[str, int]:
        """Delete what expired; how many of what (keys of the cleanup's answer)."""
        ...

    async def erase(self, conn: db.Conn, workspace: str) -> Callable[[], Awaitable[None]] | None:
        """Delete all of it in the clear's transaction (`conn`); what to do once that commits
        (caches, streams), if anything. Areas are erased in the reverse of their order."""
        ...

    def export(self, workspace: str, agent_id: str) -> AsyncIterator[bytes]:
        """What it holds of one agent, as NDJSON lines (`{"type": ..., "data": {...}}\\n`)."""
        ...

    async def purge(
        self, conn: db.Conn, workspace: str, agent_id: str
    ) -> Callable[[], Awaitable[None]] | None:
        """Delete what it holds of one agent in the purge's transaction (`conn`); what to do
        once that commits, if anything."""
        ...


async def erase(
    conn: db.Conn, data: list[WorkspaceData], workspace: str
) -> list[Callable[[], Awaitable[None]]]:
    """Delete every area's data of `workspace` and its idempotency keys in the transaction of
    `conn`, areas in the reverse of their order; what to do once that commits."""
    after = []
    for part in reversed(data):
        done = await part.erase(conn, workspace)
        if done is not None:
            after.append(done)
    await idempotency.forget_all(conn, workspace)
    return after
