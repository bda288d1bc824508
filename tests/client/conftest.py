"""The Python client (clients/python) against real `brain serve` processes: one for the package's
API and drift tests (with the local model, so that recall by meaning is real), and the others'
own where a test stops what they depend on."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from brain import embedded
from tests.support import databases
from tests.support.api import TOKEN, service_env
from tests.support.service import Service


@contextlib.contextmanager
def database(pg_server: embedded.Postgres) -> Iterator[str]:
    """A fresh migrated database of the session's PostgreSQL for several tests; its URL."""
    name = databases.fresh(pg_server)
    try:
        yield pg_server.url(name)
    finally:
        with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextlib.contextmanager
def running(env: dict[str, str], log: Path) -> Iterator[Service]:
    service = Service({"BRAIN_LOG_LEVEL": "WARNING", **env}, log=log).start()
    try:
        yield service
    finally:
        if service.process is not None and service.process.poll() is None:
            assert service.stop() == 0


@pytest.fixture(scope="package")
def api_service(
    pg_server: embedded.Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """`brain serve` with the local model on a database and Redis of this package's own."""
    redis = embedded.Redis(tmp_path_factory.mktemp("client-redis"), appendonly=False)
    redis.start()
    try:
        with database(pg_server) as url:
            env = {**service_env(url, redis.url()), "BRAIN_EMBEDDINGS": "local"}
            with running(env, tmp_path_factory.mktemp("client-api") / "serve.log") as service:
                yield service
    finally:
        redis.stop()


@pytest.fixture(scope="package")
def document(api_service: Service) -> dict[str, object]:
    """The OpenAPI document the service serves."""
    response = httpx.get(f"{api_service.url}/schema/openapi.json", timeout=30)
    assert response.status_code == 200
    doc: dict[str, object] = response.json()
    return doc


@pytest.fixture
def token() -> str:
    return TOKEN


class CuttingProxy:
    """A TCP proxy in front of a service (its own thread and event loop): forwards bytes both
    ways; after `cut_next_response()`, the next bytes the service answers are dropped and both
    connections closed, once: the request was served, its answer never reaches the client."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = embedded.free_port()
        self.cuts = 0
        self.connections = 0
        self._armed = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut_next_response(self) -> None:
        with self._lock:
            self._armed += 1

    def _take_cut(self) -> bool:
        with self._lock:
            if self._armed:
                self._armed -= 1
                self.cuts += 1
                return True
            return False

    def __enter__(self) -> CuttingProxy:
        self._thread.start()
        serve = asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self._server = asyncio.run_coroutine_threadsafe(serve, self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, answers: bool) -> None:
            while data := await src.read(65536):
                if answers and self._take_cut():
                    return  # dropped: the finally closes both sides
                dst.write(data)
                await dst.drain()

        pumps = [
            asyncio.create_task(pump(reader, up_writer, answers=False)),
            asyncio.create_task(pump(up_reader, writer, answers=True)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for each in pumps:
                each.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for side in (writer, up_writer):
                side.close()
                with contextlib.suppress(ConnectionError):
                    await side.wait_closed()
            self._tasks.discard(task)
