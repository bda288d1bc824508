"""Rate limits per key: a token bucket in Redis, shared by every replica; fail-open without it."""

from __future__ import annotations

import asyncio
import re

from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY

from brain import app, embedded
from tests.support import api
from tests.support.tenancy import bearer, key, workspace


async def test_past_the_burst_429_then_the_refill(client: AsyncTestClient) -> None:
    await workspace(client, "acme")
    limited = bearer(await key(client, "acme", rate_limit={"per_second": 4, "burst": 3}))
    answers = [await client.get("/v1/agents", headers=limited) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].headers["RateLimit-Policy"] == '"key";q=3;w=1'
    assert [a.headers["RateLimit"].split(";")[1] for a in answers] == ["r=2", "r=1", "r=0"]
    assert re.fullmatch(r'"key";r=0;t=1', answers[2].headers["RateLimit"])
    refused = await client.get("/v1/agents", headers=limited)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["RateLimit"].startswith('"key";r=0;')
    assert "rate limit" in refused.json()["detail"]
    await asyncio.sleep(0.6)  # two tokens back at 4/s
    again = [await client.get("/v1/agents", headers=limited) for _ in range(3)]
    assert [a.status_code for a in again] == [200, 200, 429]
    # a key without a limit, and the admin token, carry no such fields and are never refused
    free = bearer(await key(client, "acme"))
    for headers in (free, {}):
        answered = [await client.get("/v1/agents", headers=headers) for _ in range(10)]
        assert {a.status_code for a in answered} == {200}
        assert "RateLimit" not in answered[0].headers


async def test_the_limit_is_shared_by_every_replica(settings: object) -> None:
    """Two apps (two replicas) over one Redis take from the same bucket."""
    async with (
        AsyncTestClient(app=app.create_app(settings)) as one,  # type: ignore[arg-type]
        AsyncTestClient(app=app.create_app(settings)) as two,  # type: ignore[arg-type]
    ):
        await workspace(one, "acme")
        limited = bearer(await key(one, "acme", rate_limit={"per_second": 0.5, "burst": 4}))
        statuses = []
        for n in range(6):
            client = one if n % 2 else two
            statuses.append((await client.get("/v1/agents", headers=limited)).status_code)
        assert statuses == [200, 200, 200, 200, 429, 429]


async def test_without_redis_the_limiter_fails_open_and_counts_it(
    database_url: str, own_redis: embedded.Redis
) -> None:
    settings = api.settings(database_url, own_redis.url())
    async with AsyncTestClient(app=app.create_app(settings)) as client:
        client.headers.update(api.AUTH)
        await workspace(client, "acme")
        limited = bearer(await key(client, "acme", rate_limit={"per_second": 1, "burst": 1}))
        assert (await client.get("/v1/agents", headers=limited)).status_code == 200
        assert (await client.get("/v1/agents", headers=limited)).status_code == 429
        own_redis.stop()
        before = REGISTRY.get_sample_value("brain_rate_limit_fail_open_total") or 0
        answers = [await client.get("/v1/agents", headers=limited) for _ in range(5)]
        assert {a.status_code for a in answers} == {200}
        assert "RateLimit" not in answers[0].headers
        after = REGISTRY.get_sample_value("brain_rate_limit_fail_open_total")
        assert after == before + 5
        own_redis.start(port=own_redis.port)
        for _ in range(50):  # enforced again once Redis answers (its bucket was lost with it)
            statuses = [
                (await client.get("/v1/agents", headers=limited)).status_code for _ in range(2)
            ]
            if statuses == [200, 429]:
                break
            await asyncio.sleep(0.1)
        assert statuses == [200, 429]
