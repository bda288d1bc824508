"""The application factory: one place where Brain is wired together."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.metadata
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, Router, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.template import TemplateConfig

from brain import admin, agents, console, health, mcp, memory, messaging, workspaces
from brain.kit import (
    admission,
    areas,
    auth,
    background,
    body,
    cache,
    db,
    errors,
    http,
    openapi,
    pagination,
    ratelimit,
    redis_client,
    registry,
)  # fmt: skip
from brain.observability import logs, metrics, observe, tracing
from brain.settings import Settings

AREAS = (agents.AREA, memory.AREA, messaging.AREA, workspaces.AREA, admin.AREA)
"""The areas, in the order their data depends on each other (admin's clear erases in reverse)."""
BODY_OVERHEAD = 64 * 1024  # room for the fields around the largest context
BLOCKING_READ_TIMEOUT = 10.0
SAMPLE_SECONDS = 5.0  # longer than any block a long poll issues (messaging.service)


async def _open_database(
    settings: Settings,
    pool: db.Pool | None,
    stack: contextlib.AsyncExitStack,
) -> db.Database:
    if pool is None:
        assert settings.database_url is not None, "database_url is required"
        pool = db.pool(
            settings.database_url, min_size=settings.db_pool_min,
            max_size=settings.db_pool_max, name="primary",
        )  # fmt: skip
        await db.open_pool(pool, wait=True, wait_seconds=30)
        stack.push_async_callback(pool.close)
    replica = None
    if settings.database_read_urls:
        replica = db.pool(
            settings.database_read_urls[0], min_size=1, max_size=settings.db_pool_max,
            name="replica",
        )  # fmt: skip
        await db.open_pool(replica, wait=False)
        stack.push_async_callback(replica.close)
    return db.Database(pool, replica)


def _database(
    settings: Settings, pool: db.Pool | None
) -> Callable[[Litestar], contextlib.AbstractAsyncContextManager[None]]:
    """PostgreSQL: the pools, open while the app runs (`app.state.db`)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            app.state.db = await _open_database(settings, pool, stack)
            yield

    return lifespan


def _redis(
    settings: Settings, client: redis_client.Client | None, serving: bool
) -> Callable[[Litestar], contextlib.AbstractAsyncContextManager[None]]:
    """Redis: a client for quick calls and one for blocking reads, and the cache over them
    (`app.state.redis`, `.blocking`, `.cache`); without BRAIN_REDIS_URL, none."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            redis, blocking = client, None
            if settings.redis_url:
                if redis is None:
                    redis = redis_client.connect(settings)
                    stack.push_async_callback(redis.aclose)
                blocking = redis_client.connect(settings, read_timeout=BLOCKING_READ_TIMEOUT)
                stack.push_async_callback(blocking.aclose)
            memo = cache.Cache(redis, settings.cache_ttl_seconds)
            if serving:  # a one-shot command (brain cleanup) must not retire the whole cache
                await memo.start(await registry.ids(app.state.db))
            checker = auth.Authenticator(settings, app.state.db, ratelimit.Limiter(redis))
            app.state.update(redis=redis, blocking=blocking, cache=memo, auth=checker)
            yield

    return lifespan


def _areas(
    settings: Settings, serving: bool, run_relay: bool
) -> Callable[[Litestar], contextlib.AbstractAsyncContextManager[None]]:
    """Each area's service, built from what the lifespans before opened
    (`app.state.services[area.name]`)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        state = app.state
        resources = areas.Resources(
            settings=settings, db=state.db, redis=state.redis, blocking=state.blocking,
            cache=state.cache, cursors=pagination.Cursors((settings.admin_token or "").encode()),
            auth=state.auth, serving=serving, run_relay=run_relay,
        )  # fmt: skip
        services = {}
        for area in AREAS:
            service = area.build(resources)
            services[area.name] = service
            if isinstance(service, areas.WorkspaceData):
                resources.data.append(service)
        state.services = services
        yield

    return lifespan


def _background(
    settings: Settings, serving: bool
) -> Callable[[Litestar], contextlib.AbstractAsyncContextManager[None]]:
    """While serving: the cache's probe, the pool gauges, and each area's background work; at
    shutdown each ends on `stop` (kit.background), then the areas drain."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        state = app.state
        busy = [s for s in state.services.values() if isinstance(s, areas.Background)]
        stop = asyncio.Event()
        jobs: list[Coroutine[Any, Any, None]] = []
        if serving:
            jobs.append(state.cache.watch(stop))
            jobs.append(_sample(state.db, state.redis, state.blocking, state.gate, stop))
            if state.gate is not None:
                jobs.append(state.gate.watch(stop))
            for service in busy:
                jobs.extend(service.background(stop))
        tasks = [asyncio.create_task(job) for job in jobs]
        try:
            async with background.draining() as state.draining:
                yield
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for service in busy:
                await service.drain()

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
    gate: admission.Gate | None,
    stop: asyncio.Event,
) -> None:
    """Background task: pool, client and admission gauges, every few seconds."""

    async def tick() -> None:
        if gate is not None:
            gate.sample()
        metrics.sample_db_pool("primary", database.primary)
        metrics.sample_write_slots(database.writes_waiting)
        if database.replica is not database.primary:
            metrics.sample_db_pool("replica", database.replica)
        for name, client in (("main", redis), ("blocking", blocking)):
            counts = redis_client.pool_counts(client) if client is not None else None
            if counts is not None:
                metrics.sample_redis_pool(name, *counts)

    await background.every(SAMPLE_SECONDS, stop, tick)


def _provider(name: str) -> Provide:
    """The dependency `name` of the handlers: that area's service. It takes the workspace so
    that Litestar resolves it after the workspace (a handler's independent dependencies are
    resolved in an anyio task group, one per request)."""

    def provide(state: State, workspace: auth.Workspace) -> Any:
        return state.services[name]

    return Provide(provide, sync_to_thread=False)


def create_app(
    settings: Settings,
    *,
    pool: db.Pool | None = None,
    redis: redis_client.Client | None = None,
    run_relay: bool = True,
    serving: bool = True,
) -> Litestar:
    """Build the app. Tests may pass their own open `pool` and `redis`, and `run_relay=False` to
    drive the outbox relay themselves. `serving=False` is for one-shot commands (`brain
    cleanup`): no background tasks and no start-up epoch bump of the cache."""
    logs.configure(settings.log_level, settings.log_format, secrets=[settings.admin_token or ""])
    traced = tracing.configure(settings.tracing_exporter)
    version = importlib.metadata.version("brain")
    endpoint = mcp.Endpoint(version, max_body=settings.max_context_bytes + BODY_OVERHEAD)
    gate = (
        admission.Gate(settings.max_in_flight, settings.max_queue_ms / 1000)
        if settings.max_in_flight
        else None
    )
    api = Router(
        "/v1",
        route_handlers=[area.router for area in AREAS],
        middleware=[auth.middleware],
        dto=body.StrictJSON[msgspec.Struct],
        return_dto=None,
        dependencies={
            "workspace": Provide(auth.workspace, sync_to_thread=False),
            "principal": Provide(auth.principal, sync_to_thread=False),
            **{area.name: _provider(area.name) for area in AREAS},
        },
    )
    return Litestar(
        route_handlers=[api, health.router, metrics_endpoint, endpoint.route, console.router()],
        lifespan=[
            _database(settings, pool),
            _redis(settings, redis, serving),
            _areas(settings, serving, run_relay),
            _background(settings, serving),
            endpoint.lifespan,  # /mcp: its sessions end first
        ],
        exception_handlers=errors.HANDLERS,
        middleware=[
            *([admission.middleware(gate)] if gate is not None else []),
            *([tracing.asgi_middleware] if traced else []),
            observe.middleware,
            http.options,
        ],
        state=State({"settings": settings, "console": console.Console(settings), "gate": gate}),
        template_config=TemplateConfig(instance=console.templates()),
        openapi_config=openapi.config(version),
        request_max_body_size=settings.max_context_bytes + BODY_OVERHEAD,
        logging_config=None,  # brain.logs owns logging
        debug=False,
    )


def freeze_heap(_: Litestar) -> None:
    """Once a served process has started: collect, then move every object left (modules,
    classes, routes, schemas: about 160k in a worker) into the collector's permanent generation.

    CPython's full collection scans every tracked object; with the start-up heap in it, each one
    paused a worker for 80-300 ms under load, and the workers of `brain serve`, allocating at the
    same rate, paused together: every request in flight waited, a p95 over 100 ms in a 20 s run
    (the CI gate). Frozen, the start-up heap is never scanned again and a full collection scans
    only what the process made since. Frozen objects are still freed when their count of
    references drops to zero; a cycle among them would be kept, but the start-up heap lives as
    long as the process. Not done by `create_app`: a test process builds many apps and must
    collect the ones it is done with."""
    gc.collect()
    gc.freeze()


def from_env() -> Litestar:
    """ASGI factory for `uvicorn --factory brain.app:from_env` (used by `brain serve`): the
    heap is frozen once the app has started (`freeze_heap`)."""
    app = create_app(Settings.from_env())
    app.on_startup.append(freeze_heap)
    return app
