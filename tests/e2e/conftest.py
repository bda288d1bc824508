"""Fixtures of the e2e tests: a real `brain serve` process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import service_env
from tests.support.service import Service


@pytest.fixture
def service(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[Service]:
    """`brain serve` (one worker) against the test's database and Redis; it must stop cleanly."""
    running = Service(service_env(database_url, redis_url), log=tmp_path / "serve.log").start()
    yield running
    assert running.stop() == 0
