"""The embedded default: data survives restarts, and `kill -9` of `brain serve` is recoverable."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from brain import embedded
from tests.support.service import Service


def embedded_env(data_dir: Path) -> dict[str, str]:
    env = {"BRAIN_DATA_DIR": str(data_dir)}
    for name in ("BRAIN_DATABASE_URL", "BRAIN_REDIS_URL", "BRAIN_ADMIN_TOKEN"):
        env[name] = ""  # unset: the embedded default
    return env


def client(service: Service, data_dir: Path) -> httpx.Client:
    token = (data_dir / "admin_token").read_text().strip()
    return httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {token}"})


def servers_running(data_dir: Path) -> tuple[bool, bool]:
    pg = embedded.Postgres(data_dir / "postgres").running_pid() is not None
    redis = embedded.Redis(data_dir / "redis").running_pid() is not None
    return pg, redis


@pytest.mark.slow
def test_restart_and_crash_keep_the_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    log = tmp_path / "serve.log"
    service = Service(embedded_env(data_dir), log=log).start()
    assert oct((data_dir / "admin_token").stat().st_mode & 0o777) == "0o600"
    with client(service, data_dir) as http:
        assert http.put("/v1/agents/sales", json={"name": "Sales"}).status_code == 201
        created = http.post("/v1/memories", json={"agent_id": "sales", "context": {"k": 1}}).json()
    assert "for development only" in log.read_text()
    assert "embeddings: local (all-MiniLM-L6-v2/384)" in log.read_text()  # the embedded default

    assert service.stop() == 0
    assert servers_running(data_dir) == (False, False)  # stopped with the service

    service = Service(embedded_env(data_dir), log=log).start()
    with client(service, data_dir) as http:
        assert http.get(f"/v1/memories/{created['id']}").json() == created
        assert http.get("/v1/agents/sales").json()["name"] == "Sales"
        second = http.post("/v1/memories", json={"agent_id": "sales", "context": {"k": 2}}).json()

    service.kill()  # kill -9: PostgreSQL and Redis live on without their service
    assert servers_running(data_dir) == (True, True)

    service = Service(embedded_env(data_dir), log=log).start()  # finds them again
    with client(service, data_dir) as http:
        ids = [m["id"] for m in http.post("/v1/memories/query", json={}).json()["items"]]
        assert ids == [second["id"], created["id"]]
    assert service.stop() == 0
    assert servers_running(data_dir) == (False, False)


@pytest.mark.slow
def test_crashed_servers_are_restarted_on_the_same_data(tmp_path: Path) -> None:
    """Everything killed at once (a machine crash): PostgreSQL recovers from its WAL."""
    data_dir = tmp_path / "data"
    service = Service(embedded_env(data_dir)).start()
    with client(service, data_dir) as http:
        created = http.post("/v1/memories", json={"agent_id": "a", "context": {"k": 1}}).json()
    service.kill()
    embedded.Postgres(data_dir / "postgres").kill()
    embedded.Redis(data_dir / "redis").kill()
    assert servers_running(data_dir) == (False, False)
    assert (data_dir / "postgres" / "pgdata" / "postmaster.pid").exists()  # stale pid file

    service = Service(embedded_env(data_dir)).start()
    with client(service, data_dir) as http:
        assert http.get(f"/v1/memories/{created['id']}").status_code == 200
    assert service.stop() == 0
    assert not os.path.exists(data_dir / "postgres" / "pgdata" / "postmaster.pid")
