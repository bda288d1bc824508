"""A served process freezes its start-up heap (`app.freeze_heap`), so that CPython's full
collections under load scan only what it made since; an app a test builds does not, so that the
test process still collects the apps it is done with."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from litestar.testing import AsyncTestClient

from brain import app
from tests.support import api


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """The test process's heap as the collector keeps it: nothing frozen, before and after."""
    gc.unfreeze()
    yield
    gc.unfreeze()


async def test_a_served_app_freezes_its_heap_once_started(
    database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch, unfrozen: None
) -> None:
    for name, value in api.service_env(database_url, redis_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BRAIN_EMBEDDINGS", "none")
    served = app.from_env()
    assert gc.get_freeze_count() == 0  # built, not started
    async with AsyncTestClient(app=served) as client:
        frozen = gc.get_freeze_count()
        assert frozen > 50_000  # the modules, classes and routes at least
        # What a full collection scans now: the objects made since, a small part of the heap.
        assert len(gc.get_objects()) < frozen / 4
        assert (await client.get("/health/live")).status_code == 200


async def test_an_app_a_test_builds_leaves_the_heap_to_the_collector(
    database_url: str, redis_url: str, unfrozen: None
) -> None:
    settings = api.settings(database_url, redis_url)
    async with AsyncTestClient(app=app.create_app(settings)) as client:
        assert (await client.get("/health/live")).status_code == 200
        assert gc.get_freeze_count() == 0
