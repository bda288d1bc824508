"""The application factory: one place where Brain is wired together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import psycopg_pool
from litestar import Litestar, Response, Router, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from brain import admin, auth, cache, db, errors, health, logs, redis_client, timing
from brain.admin import AdminService
from brain.agents import routes as agent_routes
from brain.agents.service import AgentService
from brain.memory import routes as memory_routes
from brain.memory.service import MemoryService
from brain.settings import Settings

BODY_OVERHEAD = 64 * 1024  # room for the fields around the largest context


def _lifespan(
    settings: Settings,
    pool: psycopg_pool.AsyncConnectionPool | None,
    client: redis_client.Client | None,
) -> Callable[[Litestar], contextlib.AbstractAsyncContextManager[None]]:
    """Open pools and clients on start-up, close them on shutdown (nothing at import time)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        owned = []
        primary = pool
        if primary is None:
            assert settings.database_url is not None, "database_url is required"
            primary = db.pool(
                settings.database_url, min_size=settings.db_pool_min,
                max_size=settings.db_pool_max, name="primary",
            )  # fmt: skip
            owned.append(primary)
            await primary.open(wait=True, timeout=30)
        replica = None
        if settings.database_read_urls:
            replica = db.pool(
                settings.database_read_urls[0], min_size=1, max_size=settings.db_pool_max,
                name="replica",
            )  # fmt: skip
            owned.append(replica)
            await replica.open(wait=False)
        redis = (
            client
            if client is not None
            else (redis_client.connect(settings) if settings.redis_url else None)
        )
        memo = cache.Cache(redis, settings.cache_ttl_seconds)
        await memo.start(settings.workspace)
        watcher = asyncio.create_task(memo.watch(settings.workspace), name="redis-watch")

        database = db.Database(primary, replica)
        agents = AgentService(database, settings.max_context_bytes)
        memories = MemoryService(database, memo, settings.max_context_bytes)
        app.state.update(
            db=database, cache=memo, agents=agents, memories=memories,
            admin=AdminService(database, memo, agents, memories),
        )  # fmt: skip
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            if client is None:
                await memo.close()
            for p in owned:
                await p.close()

    return lifespan


@get("/metrics", include_in_schema=False)
async def metrics_endpoint() -> Response[bytes]:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _agents(state: State) -> AgentService:
    return state.agents  # type: ignore[no-any-return]


def _memories(state: State) -> MemoryService:
    return state.memories  # type: ignore[no-any-return]


def _admin(state: State) -> AdminService:
    return state.admin  # type: ignore[no-any-return]


def create_app(
    settings: Settings,
    *,
    pool: psycopg_pool.AsyncConnectionPool | None = None,
    redis: redis_client.Client | None = None,
) -> Litestar:
    """Build the app; `pool` and `redis` let tests pass their own, already open."""
    logs.configure(settings.log_level, settings.log_format)
    api = Router(
        "/v1",
        route_handlers=[agent_routes.router, memory_routes.router, admin.router],
        guards=[auth.guard],
        dependencies={
            "workspace": Provide(auth.workspace, sync_to_thread=False),
            "agents": Provide(_agents, sync_to_thread=False),
            "memories": Provide(_memories, sync_to_thread=False),
            "admin": Provide(_admin, sync_to_thread=False),
        },
    )
    return Litestar(
        route_handlers=[api, health.router, metrics_endpoint],
        lifespan=[_lifespan(settings, pool, redis)],
        exception_handlers=errors.HANDLERS,
        middleware=[timing.middleware],
        state=State({"settings": settings}),
        openapi_config=OpenAPIConfig(
            title="Brain", version="1", path="/schema", render_plugins=[ScalarRenderPlugin()]
        ),
        request_max_body_size=settings.max_context_bytes + BODY_OVERHEAD,
        logging_config=None,  # brain.logs owns logging
        debug=False,
    )


def from_env() -> Litestar:
    """ASGI factory for `uvicorn --factory brain.app:from_env` (used by `brain serve`)."""
    return create_app(Settings.from_env())
