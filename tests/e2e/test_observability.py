"""Logs, traces and multi-worker metrics of a real `brain serve`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.api import AUTH, TOKEN, service_env
from tests.support.service import Service


def json_lines(path: Path) -> list[dict]:
    """Every line the service logged as JSON (uvicorn's own start-up lines included)."""
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith('{"'):  # the span exporter's objects span several lines
            lines.append(json.loads(line))
    return lines


@pytest.mark.slow
def test_logs_are_json_with_request_ids_and_never_a_token(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    env = service_env(database_url, redis_url) | {"OTEL_TRACES_EXPORTER": "console"}
    service = Service(env, log=log).start()
    try:
        with httpx.Client(base_url=service.url, headers=AUTH) as http:
            stored = http.post(
                "/v1/memories", json={"agent_id": "a", "context": {"k": 1}},
                headers={"X-Request-ID": "req-42"},
            )  # fmt: skip
            assert stored.headers["X-Request-ID"] == "req-42"
            generated = http.get("/v1/agents")
            assert len(generated.headers["X-Request-ID"]) == 32
            # The token where it must never be echoed: a wrong one, one in a query string.
            http.get("/v1/agents", headers={"Authorization": f"Bearer {TOKEN}-wrong"})
            http.get(f"/v1/agents/{TOKEN}/memories", params={"token": TOKEN})
    finally:
        service.stop()
    text = log.read_text()
    assert TOKEN not in text
    access = [e for e in json_lines(log) if e.get("logger") == "brain.access"]
    store = next(e for e in access if e.get("request_id") == "req-42")
    assert store["route"] == "/v1/memories" and store["status"] == 201
    assert store["method"] == "POST" and store["duration_ms"] > 0
    assert len(store["trace_id"]) == 32  # tracing is on: logs carry the trace id
    assert any(e["status"] == 401 for e in access)
    # Console span exporter: the request's server span and its database and Redis spans.
    spans = [json.loads(chunk) for chunk in _span_chunks(text)]
    in_trace = [s for s in spans if s["context"]["trace_id"] == "0x" + store["trace_id"]]
    kinds = {s["kind"] for s in in_trace}
    assert "SpanKind.SERVER" in kinds and "SpanKind.CLIENT" in kinds
    systems = {
        s["attributes"].get("db.system") or s["attributes"].get("db.system.name") for s in in_trace
    }
    assert {"postgresql", "redis"} <= systems


def _span_chunks(text: str) -> list[str]:
    """The JSON objects the console exporter printed (multi-line, starting with '{')."""
    chunks, current, depth = [], [], 0
    for line in text.splitlines():
        if not current and line != "{":
            continue
        current.append(line)
        depth += line.count("{") - line.count("}")
        if depth == 0:
            chunks.append("\n".join(current))
            current = []
    return [c for c in chunks if '"trace_id"' in c]


@pytest.mark.slow
def test_exemplars_carry_trace_ids(database_url: str, redis_url: str, tmp_path: Path) -> None:
    env = service_env(database_url, redis_url) | {"OTEL_TRACES_EXPORTER": "console"}
    service = Service(env, log=tmp_path / "serve.log").start()
    try:
        with httpx.Client(base_url=service.url, headers=AUTH) as http:
            http.get("/v1/agents")
            metrics = http.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    finally:
        service.stop()
    bucket = "brain_http_request_duration_seconds_bucket"
    lines = [
        line for line in metrics.text.splitlines()
        if line.startswith(bucket) and 'route="/v1/agents"' in line
    ]  # fmt: skip
    assert any("# {trace_id=" in line for line in lines), lines


@pytest.mark.slow
def test_metrics_add_up_across_workers(database_url: str, redis_url: str, tmp_path: Path) -> None:
    service = Service(
        service_env(database_url, redis_url), workers=2, log=tmp_path / "serve.log"
    ).start()
    try:
        for _ in range(30):  # a new connection each time: both workers serve some
            httpx.get(f"{service.url}/v1/agents", headers=AUTH)
        totals = []
        for _ in range(4):
            text = httpx.get(f"{service.url}/metrics").text
            total = 0.0
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if (
                        sample.name == "brain_http_requests_total"
                        and sample.labels["route"] == "/v1/agents"
                    ):
                        total += sample.value
            totals.append(total)
    finally:
        service.stop()
    assert totals == [30.0] * 4  # whichever worker answers the scrape
