"""A model change is seen, never mixed: memories with vectors of another space are reported at
start and in the stats, are never compared with the configured space's, and `brain reembed`
gives them vectors of the new model (resumable, with progress), with the real local model."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from brain import app
from brain.memory.service import MemoryService
from tests.support import api

NOTES = [
    "Acme prefers email, never calls before 10:00",
    "The staging deploy failed because the disk was full",
    "Globex renews its contract in March",
    "Use the blue-green strategy for database migrations",
    "Initech's CTO is vegetarian",
]
LOCAL = "all-MiniLM-L6-v2/384"


@pytest.fixture
async def old_model(database_url: str, redis_url: str) -> list[str]:
    """Memories stored under a former 3-dimensional model, one without text, one without any
    vector (stored when vectors were off)."""
    settings = api.settings(
        database_url, redis_url, embeddings="none", embeddings_model="test-vectors",
        embeddings_dimensions=3,
    )  # fmt: skip
    async with AsyncTestClient(app=app.create_app(settings)) as client:
        ids = []
        for n, note in enumerate(NOTES):
            body: dict[str, Any] = {"agent_id": "a", "context": {"note": note}}
            if n:
                body["embedding"] = [1.0, float(n), 0.0]
            response = await client.post("/v1/memories", json=body, headers=api.AUTH)
            assert response.status_code == 201
            ids.append(response.json()["id"])
        response = await client.post(
            "/v1/memories", json={"agent_id": "a", "context": {"flag": True}}, headers=api.AUTH
        )
        ids.append(response.json()["id"])
    return ids


def spaces(database_url: str) -> dict[str | None, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT embedding_space, count(*) FROM memories GROUP BY 1 ORDER BY 1"
        ).fetchall()
    return {r[0]: r[1] for r in rows}


@contextlib.asynccontextmanager
async def reembedder(database_url: str, redis_url: str) -> AsyncIterator[MemoryService]:
    """The memory service as `brain reembed` has it: an app that does not serve, in this
    loop (the test client's app runs in a loop of its own)."""
    settings = api.settings(database_url, redis_url, embeddings="local")
    application = app.create_app(settings, serving=False)
    async with application.lifespan():
        service = application.state.services["memories"]
        assert isinstance(service, MemoryService)
        yield service


async def test_a_model_change_is_seen_and_never_mixed(
    old_model: list[str], database_url: str, redis_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    async with reembedder(database_url, redis_url) as service:
        assert await service.other_spaces() == {"test-vectors/3": 4}
    settings = api.settings(database_url, redis_url, embeddings="local")
    capfd.readouterr()
    async with AsyncTestClient(app=app.create_app(settings)) as client:
        client.headers.update(api.AUTH)
        response = await client.post("/v1/memories/query", json={"semantic": "Acme email"})
        assert response.status_code == 200 and response.json()["items"] == []
        stats = (await client.get("/v1/stats")).json()["memories"]
        deadline, logged = time.monotonic() + 10, ""
        while "brain reembed" not in logged:  # the check at start runs in the background
            assert time.monotonic() < deadline, "no warning of the other space at start"
            await asyncio.sleep(0.05)
            logged += capfd.readouterr().err
    assert stats["by_embedding_space"] == {"test-vectors/3": 4, "none": 2}
    assert stats["embedding_space"] == LOCAL and stats["waiting_for_embedding"] == 0
    assert (
        "4 memories have vectors of the embedding space test-vectors/3, not of "
        f"{LOCAL} (configured): search by meaning does not find them until `brain reembed`"
    ) in logged


async def test_reembed_gives_every_memory_with_text_a_vector_of_the_new_model(
    old_model: list[str], local: AsyncTestClient, database_url: str, redis_url: str
) -> None:
    seen: list[tuple[int, int, int]] = []
    async with reembedder(database_url, redis_url) as service:
        done = await service.reembed(2, lambda *p: seen.append(p))
        assert done == (6, 5)  # the memory without text is seen, and keeps no vector
        assert [(n, total) for n, _, total in seen] == [(2, 6), (4, 6), (6, 6)]
        assert seen[-1][1] == 5
        assert spaces(database_url) == {LOCAL: 5, None: 1}
        assert await service.other_spaces() == {}
        again = await service.reembed(64, lambda *p: None)
        assert again == (1, 0)  # resumable: what is done is not done again
    question = {"semantic": "How does Acme like to be contacted?"}
    response = await local.post("/v1/memories/query", json=question)
    assert response.json()["items"][0]["id"] == old_model[0]


async def test_reembed_resumes_where_it_stopped(
    old_model: list[str], database_url: str, redis_url: str
) -> None:
    class Interrupted(Exception):
        pass

    def stop_after_first(seen: int, embedded: int, total: int) -> None:
        raise Interrupted

    async with reembedder(database_url, redis_url) as service:
        with pytest.raises(Interrupted):
            await service.reembed(3, stop_after_first)
        first = spaces(database_url)
        assert first[LOCAL] in (2, 3) and sum(first.values()) == 6
        seen, embedded = await service.reembed(3, lambda *p: None)
    assert embedded == 5 - first[LOCAL] and seen == 6 - first[LOCAL]
    assert spaces(database_url) == {LOCAL: 5, None: 1}


async def test_reembed_retires_cached_results(
    old_model: list[str], local: AsyncTestClient, database_url: str, redis_url: str
) -> None:
    query = {"semantic": "Globex contract renewal"}
    assert (await local.post("/v1/memories/query", json=query)).json()["items"] == []
    assert (await local.post("/v1/memories/query", json=query)).headers["x-brain-cache"] == "hit"
    async with reembedder(database_url, redis_url) as service:
        await service.reembed(64, lambda *p: None)
    after = await local.post("/v1/memories/query", json=query)
    assert after.headers["x-brain-cache"] == "miss"
    assert after.json()["items"][0]["id"] == old_model[2]


def test_the_reembed_command(old_model: list[str], database_url: str, redis_url: str) -> None:
    env = {
        **os.environ, **api.service_env(database_url, redis_url), "BRAIN_EMBEDDINGS": "local",
        "BRAIN_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    ran = subprocess.run(
        [str(api.repo_root() / ".venv/bin/brain"), "reembed", "--batch", "4"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert (result["space"], result["memories"], result["embedded"]) == (LOCAL, 6, 5)
    progress = [line for line in ran.stderr.splitlines() if line.startswith("reembed:")]
    assert progress[0].startswith("reembed: 4/6 memories (66 %), ")
    assert progress[-1].startswith("reembed: 6/6 memories (100 %), 5 embedded")
    assert spaces(database_url) == {LOCAL: 5, None: 1}
    off = subprocess.run(
        [str(api.repo_root() / ".venv/bin/brain"), "reembed"],
        env={**env, "BRAIN_EMBEDDINGS": "none"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert off.returncode == 2 and "reembed needs a model" in off.stderr
    bad = subprocess.run(
        [str(api.repo_root() / ".venv/bin/brain"), "reembed", "--batch", "0"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "from 1 to 1000" in bad.stderr
