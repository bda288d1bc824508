"""Metrics move as the API is used; labels stay bounded (route templates, not raw paths)."""

from __future__ import annotations

import uuid

from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families


async def scrape(client: AsyncTestClient) -> dict[tuple[str, frozenset], float]:
    text = (await client.get("/metrics")).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_api_use_moves_the_metrics(client: AsyncTestClient) -> None:
    before = await scrape(client)
    created = await client.post("/v1/memories", json={"agent_id": "a", "context": {}})
    memory_id = created.json()["id"]
    await client.get(f"/v1/memories/{memory_id}")  # written through: a hit
    await client.post("/v1/memories/query", json={})  # miss
    await client.post("/v1/memories/query", json={})  # hit
    await client.get(f"/v1/memories/{uuid.uuid4()}")  # 404 on a known route
    await client.get("/v1/no/such/route")  # unmatched
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("brain_memories_written_total") == 1
    assert delta("brain_cache_requests_total", result="hit") == 2
    assert delta("brain_cache_requests_total", result="miss") >= 1
    route = "/v1/memories/{memory_id}"
    assert delta("brain_http_requests_total", method="GET", route=route, status="200") == 1
    assert delta("brain_http_requests_total", method="GET", route=route, status="404") == 1
    assert (
        delta("brain_http_requests_total", method="POST", route="/v1/memories", status="201") == 1
    )
    assert delta("brain_http_requests_total", method="GET", route="unmatched", status="404") == 1
    count = "brain_http_request_duration_seconds_count"
    assert delta(count, method="POST", route="/v1/memories/query") == 2
    bucket = "brain_http_request_duration_seconds_bucket"
    assert value(after, bucket, method="POST", route="/v1/memories/query", le="+Inf") >= 2
    routes = {
        dict(labels).get("route") for (name, labels) in after if name.startswith("brain_http")
    }
    assert not any(r and memory_id in r for r in routes)  # never a raw path
    assert value(after, "brain_dependency_up", dependency="postgres") in (0.0, 1.0)


async def test_messaging_metrics(client: AsyncTestClient) -> None:
    for agent in ("a", "b"):
        await client.put(f"/v1/agents/{agent}", json={})
    before = await scrape(client)
    sent = await client.post(
        "/v1/messages", json={"from_agent": "a", "to_agent": "b", "context": {}, "priority": "high"}
    )
    await client.post("/v1/messages/broadcast", json={"from_agent": "a", "context": {}})
    await client.get("/v1/agents/b/messages")
    await client.post("/v1/agents/b/messages/ack", json={"ids": [sent.json()["id"]]})
    after = await scrape(client)
    published = "brain_messages_published_total"
    assert (
        value(after, published, kind="direct", priority="high")
        - value(before, published, kind="direct", priority="high")
        == 1
    )
    assert (
        value(after, published, kind="broadcast", priority="normal")
        - value(before, published, kind="broadcast", priority="normal")
        == 1
    )
    acked = "brain_messages_acked_total"
    assert value(after, acked) - value(before, acked) == 1


async def test_openmetrics_on_request(client: AsyncTestClient) -> None:
    response = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
