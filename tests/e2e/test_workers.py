"""`brain serve --workers N`: each worker on its own SO_REUSEPORT socket (brain.workers)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from scripts.bench.harness import connections_per_worker, service_workers

from tests.support.api import repo_root, service_env
from tests.support.service import Service

CONNECTIONS = 32


@contextlib.contextmanager
def connections(port: int, count: int) -> Iterator[None]:
    """`count` keep-alive connections, opened at once, each answered once; closed on exit."""
    with contextlib.ExitStack() as stack:
        conns = []
        for _ in range(count):
            conns.append(stack.enter_context(socket.create_connection(("127.0.0.1", port), 10)))
        for conn in conns:
            conn.sendall(b"GET /health/live HTTP/1.1\r\nHost: brain\r\n\r\n")
        for conn in conns:
            assert conn.recv(4096).startswith(b"HTTP/1.1 200")
        yield


def wait_listening(port: int, sockets: int) -> None:
    """Until `sockets` sockets listen on `port`: each worker listens once its app has started."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listening = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            listening += fields[3] == "0A" and int(fields[1].rpartition(":")[2], 16) == port
        if listening == sockets:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{sockets} sockets did not listen on port {port}")


def wait_dead(pid: int) -> None:
    """Until `pid` has exited (a zombie holds no descriptors)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.01)
    raise TimeoutError(f"process {pid} outlived kill -9")


def test_connections_spread_over_workers(database_url: str, redis_url: str, tmp_path: Path) -> None:
    """A burst of new connections lands on every worker; with one shared listening socket, the
    first worker to wake took all of them."""
    service = Service(service_env(database_url, redis_url), workers=2, log=tmp_path / "serve.log")
    service.start()
    try:
        assert service.process is not None
        wait_listening(service.port, 2)
        with connections(service.port, CONNECTIONS):
            counts = connections_per_worker(service.process.pid, service.port)
        assert len(counts) == 2 and sum(counts) == CONNECTIONS
        # Binomial(32, 1/2): a worker with fewer than 4 happens about once in 400,000 runs.
        assert min(counts) >= 4, counts
    finally:
        assert service.stop() == 0


def test_worker_killed_is_replaced_and_no_connection_waits(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """kill -9 of a worker closes its socket with it: from then on new connections go to the
    others, and the worker uvicorn starts in its place listens on a socket of its own."""
    service = Service(service_env(database_url, redis_url), workers=2, log=tmp_path / "serve.log")
    service.start()
    try:
        assert service.process is not None
        pid = service.process.pid
        wait_listening(service.port, 2)  # ready answers once one worker is
        victim, survivor = service_workers(pid)
        os.kill(victim, signal.SIGKILL)
        wait_dead(victim)  # a connection queued on its socket in the instant before is reset
        for _ in range(20):  # each a new connection, none may hang on the dead worker's socket
            assert httpx.get(f"{service.url}/health/live", timeout=2).status_code == 200
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            workers = service_workers(pid)
            if len(workers) == 2 and victim not in workers:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"no replacement worker: {service_workers(pid)}")
        wait_listening(service.port, 2)  # the replacement, once its app has started
        with connections(service.port, CONNECTIONS):
            counts = dict(zip(workers, connections_per_worker(pid, service.port), strict=True))
        assert survivor in counts and min(counts.values()) >= 4, counts
    finally:
        assert service.stop() == 0


def test_port_in_use_fails_before_workers_start(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """A port taken by anyone, a second `brain serve` with SO_REUSEPORT sockets included, is an
    error: the second service does not join the first's socket group."""
    first = Service(service_env(database_url, redis_url), workers=2, log=tmp_path / "first.log")
    first.start()
    try:
        env = {**os.environ, "BRAIN_LOG_FORMAT": "console", **service_env(database_url, redis_url)}
        second = subprocess.run(
            [sys.executable, "-m", "brain", "serve", "--port", str(first.port), "--workers", "2"],
            env=env, cwd=repo_root(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert second.returncode == 1, second.stdout + second.stderr
        assert f"cannot listen on 127.0.0.1:{first.port}" in second.stdout + second.stderr
        assert "Brain listening" not in second.stdout + second.stderr
        assert httpx.get(f"{first.url}/health/live", timeout=2).status_code == 200
    finally:
        assert first.stop() == 0
