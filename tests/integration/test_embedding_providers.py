"""BRAIN_EMBEDDINGS=openai against a real OpenAI-compatible HTTP endpoint (an aiohttp server in
the test, answering `POST /v1/embeddings` as OpenAI, Ollama or TEI do): vectors, batching,
retries, the deadline, the pause after a failure, the 503s, stores kept while it is down and
the backfill that gives them their vectors once it is back."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.server
import json
import math
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from brain import app, embedded
from brain.kit import embeddings
from brain.memory import service as memory_service
from tests.support import api

DIMS = 8
MODEL = "fake-embedder"
SPACE = f"{MODEL}/{DIMS}"
KEY = "sk-test-key"


def vector_of(text: str) -> list[float]:
    """Words hashed into DIMS buckets, normalised: texts sharing words are near."""
    v = [0.0] * DIMS
    for word in text.lower().split():
        v[hashlib.sha256(word.encode()).digest()[0] % DIMS] += 1.0
    norm = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / norm for x in v]


class Endpoint:
    """The fake endpoint, in a thread of its own (the app under test may block the test's event
    loop while it waits for an answer): its behaviour (`mode`) and what it was asked (`calls`)."""

    def __init__(self) -> None:
        self.mode = "ok"  # ok | fail (500) | slow | refuse (401) | short (a dimension short)
        self.calls: list[dict[str, Any]] = []
        self.port = embedded.free_port()
        self.server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.mode == "fail":
            return 500, {"error": "overloaded"}
        if self.mode == "refuse":
            return 401, {"error": "bad key"}
        if self.mode == "slow":
            time.sleep(3)
        dims = DIMS - 1 if self.mode == "short" else DIMS
        data = [
            {"object": "embedding", "index": n, "embedding": vector_of(text)[:dims]}
            for n, text in reversed(list(enumerate(body["input"])))  # any order: by index
        ]
        return 200, {"object": "list", "data": data, "model": body["model"]}

    def start(self) -> None:
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                assert self.path == "/v1/embeddings"
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.calls.append({"body": body, "auth": self.headers.get("Authorization")})
                status, answer = endpoint.answer(body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client gave up waiting
                    self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    running = Endpoint()
    running.start()
    yield running
    running.stop()


@pytest.fixture
async def client(
    database_url: str, redis_url: str, endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[AsyncTestClient]:
    monkeypatch.setattr(memory_service, "BACKFILL_SECONDS", 0.2)
    settings = api.settings(
        database_url, redis_url, embeddings="openai", embeddings_url=endpoint.url,
        embeddings_model=MODEL, embeddings_dimensions=DIMS, embeddings_api_key=KEY,
        embeddings_timeout_seconds=1.0,
    )  # fmt: skip
    async with AsyncTestClient(app=app.create_app(settings)) as test_client:
        test_client.headers.update(api.AUTH)
        yield test_client


def embedder_of(test_client: AsyncTestClient) -> embeddings.OpenAICompatible:
    service = test_client.app.state.services["memories"]
    assert isinstance(service.embedder, embeddings.OpenAICompatible)
    return service.embedder


def row(database_url: str, memory_id: str) -> tuple[str | None, bool, bool]:
    """(embedding_space, has a vector, waiting) of a memory, as PostgreSQL holds it."""
    with psycopg.connect(database_url) as conn:
        found = conn.execute(
            "SELECT embedding_space, embedding IS NOT NULL, embedding_pending FROM memories "
            "WHERE id = %s",
            (memory_id,),
        ).fetchone()
    assert found is not None
    return found[0], found[1], found[2]


async def store(test_client: AsyncTestClient, note: str, **fields: Any) -> str:
    response = await test_client.post(
        "/v1/memories", json={"agent_id": "a", "context": {"note": note}, **fields}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_stores_are_embedded_by_the_endpoint_and_found_by_meaning(
    client: AsyncTestClient, endpoint: Endpoint, database_url: str
) -> None:
    email = await store(client, "Acme prefers email")
    await store(client, "the staging disk is full")
    assert row(database_url, email) == (SPACE, True, False)
    assert endpoint.calls[0]["auth"] == f"Bearer {KEY}"
    assert endpoint.calls[0]["body"]["model"] == MODEL
    assert endpoint.calls[0]["body"]["input"] == ["Acme prefers email"]
    response = await client.post("/v1/memories/query", json={"semantic": "acme email"})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert items[0]["id"] == email
    assert items[0]["score"] == pytest.approx(
        sum(
            x * y
            for x, y in zip(vector_of("acme email"), vector_of("Acme prefers email"), strict=True)
        )
    )


async def test_texts_embedded_at_once_share_calls(endpoint: Endpoint) -> None:
    embedder = embeddings.OpenAICompatible(endpoint.url, MODEL, DIMS, None, 5.0)
    texts = [f"note number {n}" for n in range(12)]
    vectors = await asyncio.gather(*(embedder.embed([t]) for t in texts))
    assert [v for [v] in vectors] == [vector_of(t) for t in texts]
    inputs = [text for call in endpoint.calls for text in call["body"]["input"]]
    assert sorted(inputs) == sorted(texts) and len(endpoint.calls) < len(texts)
    assert endpoint.calls[0]["auth"] is None  # no key, no header


async def test_a_failing_endpoint_is_retried_then_stores_wait_and_queries_get_503(
    client: AsyncTestClient, endpoint: Endpoint, database_url: str
) -> None:
    endpoint.mode = "fail"
    started = time.monotonic()
    waiting = await store(client, "Acme prefers email")
    assert time.monotonic() - started < 3
    assert len(endpoint.calls) == 1 + len(embeddings.OpenAICompatible.RETRY_PAUSES)
    assert row(database_url, waiting) == (None, False, True)
    response = await client.post("/v1/memories/query", json={"semantic": "acme email"})
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert "HTTP 500" in response.json()["detail"]
    # Paused: the next store does not wait for the endpoint at all.
    calls = len(endpoint.calls)
    also = await store(client, "Globex renews in March")
    assert len(endpoint.calls) == calls and row(database_url, also) == (None, False, True)
    stats = (await client.get("/v1/stats")).json()["memories"]
    assert stats["waiting_for_embedding"] == 2 and stats["by_embedding_space"] == {"none": 2}


async def test_the_backfill_gives_waiting_memories_their_vectors_once_it_is_back(
    client: AsyncTestClient, endpoint: Endpoint, database_url: str
) -> None:
    await store(client, "Globex renews in March")
    endpoint.mode = "fail"
    waiting = await store(client, "Acme prefers email")
    query = {"vector": vector_of("acme email"), "limit": 5}
    before = await client.post("/v1/memories/query", json=query)
    assert before.status_code == 200 and waiting not in [i["id"] for i in before.json()["items"]]
    endpoint.mode = "ok"
    embedder_of(client)._down_until = 0.0  # the pause over
    deadline = time.monotonic() + 10
    while row(database_url, waiting) != (SPACE, True, False):  # the background loop, every 0.2 s
        assert time.monotonic() < deadline, "the backfill never filled the vector in"
        await asyncio.sleep(0.1)
    after = await client.post("/v1/memories/query", json=query)
    assert after.headers["x-brain-cache"] == "miss"  # the cached answer was retired
    assert after.json()["items"][0]["id"] == waiting


async def test_a_slow_endpoint_meets_the_deadline(
    client: AsyncTestClient, endpoint: Endpoint, database_url: str
) -> None:
    endpoint.mode = "slow"
    started = time.monotonic()
    waiting = await store(client, "Acme prefers email")
    assert time.monotonic() - started < 2.5  # BRAIN_EMBEDDINGS_TIMEOUT_SECONDS=1, retries within
    assert row(database_url, waiting) == (None, False, True)
    response = await client.post("/v1/memories/query", json={"semantic": "acme"})
    assert response.status_code == 503 and "within 1 s" in response.json()["detail"]


async def test_an_endpoint_that_is_gone_gives_503_and_stores_wait(
    client: AsyncTestClient, endpoint: Endpoint, database_url: str
) -> None:
    endpoint.stop()
    waiting = await store(client, "Acme prefers email")
    assert row(database_url, waiting) == (None, False, True)
    response = await client.post("/v1/memories/query", json={"semantic": "acme"})
    assert response.status_code == 503 and "ConnectError" in response.json()["detail"]


async def test_a_refusal_is_not_retried(client: AsyncTestClient, endpoint: Endpoint) -> None:
    endpoint.mode = "refuse"
    response = await client.post("/v1/memories/query", json={"semantic": "acme"})
    assert response.status_code == 503 and "HTTP 401" in response.json()["detail"]
    assert len(endpoint.calls) == 1


async def test_vectors_of_another_dimension_are_refused(
    client: AsyncTestClient, endpoint: Endpoint
) -> None:
    endpoint.mode = "short"
    response = await client.post("/v1/memories/query", json={"semantic": "acme"})
    assert response.status_code == 503
    assert f"vectors of {DIMS - 1} dimensions" in response.json()["detail"]


async def test_dedupe_while_the_endpoint_is_down_stores_nothing(
    client: AsyncTestClient, endpoint: Endpoint, database_url: str
) -> None:
    endpoint.mode = "fail"
    response = await client.post(
        "/v1/memories",
        json={"agent_id": "a", "context": {"note": "x y"}, "dedupe": {"threshold": 0.9}},
    )
    assert response.status_code == 503
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM memories").fetchone() == (0,)


async def test_a_memory_without_text_waits_for_nothing(
    client: AsyncTestClient, endpoint: Endpoint, database_url: str
) -> None:
    response = await client.post("/v1/memories", json={"agent_id": "a", "context": {"ok": True}})
    assert response.status_code == 201
    assert row(database_url, response.json()["id"]) == (None, False, False)
    assert endpoint.calls == []
