"""Bearer auth on /v1; open health, metrics and OpenAPI routes."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic dGVzdA=="},
        {"Authorization": "Bearer"},
    ],
)
async def test_v1_needs_the_admin_token(client: AsyncTestClient, headers: dict) -> None:
    client.headers.pop("Authorization")
    for method, path in [("GET", "/v1/agents"), ("POST", "/v1/memories"), ("GET", "/v1/stats")]:
        response = await client.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_open_operations_routes(client: AsyncTestClient) -> None:
    client.headers.pop("Authorization")
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "postgres": "up", "redis": "up"}
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "brain_cache_requests_total" in metrics.text
    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["openapi"].startswith("3.1")
    assert "/v1/memories/query" in schema["paths"]


async def test_server_timing_header(client: AsyncTestClient) -> None:
    response = await client.get("/v1/agents")
    name, _, duration = response.headers["Server-Timing"].partition(";dur=")
    assert name == "app"
    assert float(duration) >= 0


async def test_unknown_route_is_a_problem(client: AsyncTestClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    response = await client.patch("/v1/agents")
    assert response.status_code == 405
