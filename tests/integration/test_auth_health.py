"""Bearer auth on /v1; open health, metrics and OpenAPI routes."""

from __future__ import annotations

import uuid

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY


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


def concrete(template: str) -> str:
    """A path for a route template: a uuid for a memory or key id, the parameter's name for the
    rest."""
    path = template.replace("{memory_id}", str(uuid.uuid4()))
    path = path.replace("{key_id}", str(uuid.uuid4()))
    return path.replace("{", "").replace("}", "")


async def test_every_v1_route_needs_the_token_and_counts_a_401(client: AsyncTestClient) -> None:
    """Every route under /v1 in the OpenAPI document answers 401 without the token, and the
    refusal is counted as a 401 (the check runs before the handler, after the metrics start)."""
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    routes = [
        (method.upper(), concrete(template), template)
        for template, item in paths.items()
        if template.startswith("/v1/")
        for method in item
    ]
    assert len(routes) >= 20, routes
    client.headers.pop("Authorization")
    for method, path, template in routes:
        labels = {"method": method, "route": template, "status": "401"}
        before = REGISTRY.get_sample_value("brain_http_requests_total", labels) or 0
        response = await client.request(method, path, json={})
        assert response.status_code == 401, (method, path, response.text)
        after = REGISTRY.get_sample_value("brain_http_requests_total", labels)
        assert after == before + 1, (method, template)


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
