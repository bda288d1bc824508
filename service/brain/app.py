"""The application factory: one place where Brain is wired together."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import psycopg_pool
from litestar import Litestar, Request, Response, Router, get
from litestar.datastructures import State
from litestar.di import Provide

from brain import admin, health
from brain.admin import AdminService
from brain.agents import routes as agent_routes
from brain.agents.service import AgentService
from brain.kit import auth, body, cache, db, errors, http, openapi, pagination, redis_client
from brain.memory import routes as memory_routes
from brain.memory.service import MemoryService
from brain.messaging import routes as message_routes
from brain.messaging.relay import Relay
from brain.messaging.service import MessageService
from brain.messaging.streams import Streams
from brain.observability import logs, metrics, observe, tracing
from brain.settings import Settings

BODY_OVERHEAD = 64 * 1024  # room for the fields around the largest context
BLOCKING_READ_TIMEOUT = 10.0
SAMPLE_SECONDS = 5.0  # longer than any block a long poll issues (messaging.service)


async def _open_database(
    settings: Settings,
    pool: psycopg_pool.AsyncConnectionPool | None,
    stack: contextlib.AsyncExitStack,
) -> db.Database:
    if pool is None:
        assert settings.database_url is not None, "database_url is required"
        pool = db.pool(
            settings.database_url, min_size=settings.db_pool_min,
            max_size=settings.db_pool_max, name="primary",
        )  # fmt: skip
        await pool.open(wait=True, timeout=30)
        stack.push_async_callback(pool.close)
    replica = None
    if settings.database_read_urls:
        replica = db.pool(
            settings.database_read_urls[0], min_size=1, max_size=settings.db_pool_max,
            name="replica",
        )  # fmt: skip
        await replica.open(wait=False)
        stack.push_async_callback(replica.close)
    return db.Database(pool, replica)


def _lifespan(
    settings: Settings,
    pool: psycopg_pool.AsyncConnectionPool | None,
    client: redis_client.Client | None,
    run_relay: bool,
    serving: bool,
) -> Callable[[Litestar], contextlib.AbstractAsyncContextManager[None]]:
    """Open pools and clients on start-up, close them on shutdown (nothing at import time)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            database = await _open_database(settings, pool, stack)
            redis, streams, blocking = client, None, None
            if settings.redis_url:
                if redis is None:
                    redis = redis_client.connect(settings)
                    stack.push_async_callback(redis.aclose)
                blocking = redis_client.connect(settings, read_timeout=BLOCKING_READ_TIMEOUT)
                stack.push_async_callback(blocking.aclose)
                streams = Streams(
                    redis, blocking, settings.visibility_timeout_seconds * 1000,
                    settings.message_retention_seconds * 1000,
                )  # fmt: skip
            memo = cache.Cache(redis, settings.cache_ttl_seconds)
            if serving:  # a one-shot command (brain cleanup) must not retire the whole cache
                await memo.start(settings.workspace)

            cursors = pagination.Cursors((settings.admin_token or "").encode())
            agents = AgentService(database, settings.max_context_bytes)
            memories = MemoryService(database, memo, settings.max_context_bytes, cursors)
            messages = MessageService(
                database, streams, settings.max_context_bytes, settings.message_history_seconds,
                cursors,
            )  # fmt: skip
            app.state.update(
                db=database, cache=memo, agents=agents, memories=memories, messages=messages,
                admin=AdminService(database, memo, agents, memories, messages),
            )  # fmt: skip

            # Background tasks end on `stop`: a cancellation alone can be swallowed by a driver
            # in the middle of a call, which would leave shutdown waiting forever.
            stop = asyncio.Event()
            tasks = []
            if serving:
                tasks.append(
                    asyncio.create_task(memo.watch(settings.workspace, stop), name="watch")
                )
                tasks.append(
                    asyncio.create_task(_sample(database, redis, blocking, stop), name="sample")
                )
            if serving and streams is not None:
                tasks.append(asyncio.create_task(messages.mark_appended(stop), name="mark"))
            if serving and streams is not None and run_relay:
                relay = Relay(
                    database, streams, settings.workspace, settings.message_retention_seconds
                )
                tasks.append(asyncio.create_task(relay.run(stop), name="relay"))
            try:
                yield
            finally:
                stop.set()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await messages.flush_appended()

    return lifespan


@get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    """Prometheus text, or OpenMetrics (with exemplars) when the scraper asks for it."""
    accept = request.headers.get("accept", "")
    body, content_type = metrics.render(accept, state.settings.metrics_multiprocess_dir)
    return Response(body, media_type=content_type)


async def _sample(
    database: db.Database,
    redis: redis_client.Client | None,
    blocking: redis_client.Client | None,
    stop: asyncio.Event,
) -> None:
    """Background task: pool and client gauges, every few seconds."""
    while not stop.is_set():
        metrics.sample_db_pool("primary", database.primary)
        metrics.sample_write_slots(database.writes_waiting)
        if database.replica is not database.primary:
            metrics.sample_db_pool("replica", database.replica)
        for name, client in (("main", redis), ("blocking", blocking)):
            counts = redis_client.pool_counts(client) if client is not None else None
            if counts is not None:
                metrics.sample_redis_pool(name, *counts)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_SECONDS)


# A handler's independent dependencies are resolved in an anyio task group, one per request;
# each service provider takes the workspace so that Litestar resolves them one after the other.
def _agents(state: State, workspace: auth.Workspace) -> AgentService:
    return state.agents  # type: ignore[no-any-return]


def _memories(state: State, workspace: auth.Workspace) -> MemoryService:
    return state.memories  # type: ignore[no-any-return]


def _messages(state: State, workspace: auth.Workspace) -> MessageService:
    return state.messages  # type: ignore[no-any-return]


def _admin(state: State, workspace: auth.Workspace) -> AdminService:
    return state.admin  # type: ignore[no-any-return]


def create_app(
    settings: Settings,
    *,
    pool: psycopg_pool.AsyncConnectionPool | None = None,
    redis: redis_client.Client | None = None,
    run_relay: bool = True,
    serving: bool = True,
) -> Litestar:
    """Build the app. Tests may pass their own open `pool` and `redis`, and `run_relay=False` to
    drive the outbox relay themselves. `serving=False` is for one-shot commands (`brain
    cleanup`): no background tasks and no start-up epoch bump of the cache."""
    logs.configure(settings.log_level, settings.log_format, secrets=[settings.admin_token or ""])
    traced = tracing.configure(settings.tracing_exporter)
    api = Router(
        "/v1",
        route_handlers=[
            agent_routes.router,
            memory_routes.router,
            message_routes.router,
            admin.router,
        ],
        middleware=[auth.middleware(settings)],
        dto=body.StrictJSON[msgspec.Struct],
        return_dto=None,
        dependencies={
            "workspace": Provide(auth.workspace, sync_to_thread=False),
            "agents": Provide(_agents, sync_to_thread=False),
            "memories": Provide(_memories, sync_to_thread=False),
            "messages": Provide(_messages, sync_to_thread=False),
            "admin": Provide(_admin, sync_to_thread=False),
        },
    )
    return Litestar(
        route_handlers=[api, health.router, metrics_endpoint],
        lifespan=[_lifespan(settings, pool, redis, run_relay, serving)],
        exception_handlers=errors.HANDLERS,
        middleware=[tracing.asgi_middleware, observe.middleware, http.options]
        if traced
        else [observe.middleware, http.options],
        state=State({"settings": settings}),
        openapi_config=openapi.config(importlib.metadata.version("brain")),
        request_max_body_size=settings.max_context_bytes + BODY_OVERHEAD,
        logging_config=None,  # brain.logs owns logging
        debug=False,
    )


def from_env() -> Litestar:
    """ASGI factory for `uvicorn --factory brain.app:from_env` (used by `brain serve`)."""
    return create_app(Settings.from_env())
