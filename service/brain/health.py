"""Liveness and readiness (open routes)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import msgspec
from litestar import Response, Router, get
from litestar.datastructures import State

from brain.kit import errors, openapi
from brain.observability import metrics


class Live(msgspec.Struct):
    status: Literal["ok"]

    example: ClassVar[dict[str, str]] = {"status": "ok"}


class Ready(msgspec.Struct):
    """`postgres` and `redis` are "up" or "down" (with the reason for PostgreSQL)."""

    status: Literal["ok", "degraded", "unavailable"]
    postgres: str
    redis: Literal["up", "down"]

    example: ClassVar[dict[str, str]] = {"status": "degraded", "postgres": "up", "redis": "down"}


@get(
    "/live",
    operation_id="live",
    summary="The process answers",
    responses=openapi.responses(200, Live, "Alive."),
)
async def live() -> dict[str, str]:
    """For a liveness probe: answers as long as the process serves requests."""
    return {"status": "ok"}


@get(
    "/ready",
    operation_id="ready",
    summary="Dependencies answer: 503 when PostgreSQL fails, degraded when Redis does",
    responses={
        **openapi.responses(200, Ready, "Ready (status ok), or degraded: Redis is down."),
        **openapi.responses(503, Ready, "PostgreSQL is down."),
    },
)
async def ready(state: State) -> Response[dict[str, Any]]:
    """PostgreSQL down: 503 (nothing works). Redis down: 200 "degraded" naming redis, because the
    memory API still works (G6) and an orchestrator must keep sending it traffic."""
    try:
        await state.db.ping()
        postgres = "up"
    except errors.Unavailable as exc:
        postgres = f"down: {exc.detail}"
    redis = "up" if await state.cache.ping() else "down"
    metrics.DEPENDENCY_UP.labels("postgres").set(1 if postgres == "up" else 0)
    metrics.DEPENDENCY_UP.labels("redis").set(1 if redis == "up" else 0)
    if postgres != "up":
        return Response(
            {"status": "unavailable", "postgres": postgres, "redis": redis}, status_code=503
        )
    status = "ok" if redis == "up" else "degraded"
    return Response({"status": status, "postgres": postgres, "redis": redis}, status_code=200)


router = Router("/health", route_handlers=[live, ready], tags=["operations"])
