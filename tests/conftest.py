"""Real PostgreSQL and Redis for the tests, started on free ports in temporary directories.

PostgreSQL: one server per session; migrations are applied once to a template database and each
test gets `CREATE DATABASE ... TEMPLATE` (fast and isolated). Redis: one server per session,
FLUSHALL before each test; tests that kill Redis start their own.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from litestar.testing import AsyncTestClient
from psycopg import sql

from brain import app, embedded, migrate
from brain.kit import embeddings
from brain.settings import Settings
from tests.support import api, databases

_BASETEMP = pytest.StashKey[str]()
_FAILED = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    """Each session's temporary directories in a folder of its own under the system's temporary
    directory. Under root, the servers run as another user that must reach their data; pytest
    makes its shared pytest-of-<user> private (0700) at the start of every session, which would
    cut the servers of a session running beside it off their data (seen: PostgreSQL's
    checkpointer could no longer open pg_control, and the server restarted)."""
    if config.option.basetemp is None:
        config.option.basetemp = config.stash[_BASETEMP] = tempfile.mkdtemp(prefix="brain-tests-")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_FAILED] = exitstatus not in (0, 5)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The session's folder goes once it is over, unless something failed (to look into)."""
    own = config.stash.get(_BASETEMP, None)
    if own is not None and not config.stash.get(_FAILED, True):
        shutil.rmtree(Path(own), ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[embedded.Postgres]:
    server = embedded.Postgres(tmp_path_factory.mktemp("postgres"))
    server.start()
    migrate.apply(server.url("brain"))
    for space in api.EMBEDDING_SPACES:  # what `brain migrate` builds for the spaces tests use
        statement = embeddings.index_statement(*space)
        assert statement is not None
        migrate.ensure_index(server.url("brain"), statement)
    server.psql("ALTER DATABASE brain WITH is_template = true", db="postgres")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[embedded.Redis]:
    server = embedded.Redis(tmp_path_factory.mktemp("redis"), appendonly=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[embedded.Redis]:
    """A Redis of the test's own, which it may kill and restart (AOF everysec, like the
    embedded default)."""
    server = embedded.Redis(tmp_path_factory.mktemp("redis-own"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def database_url(pg_server: embedded.Postgres) -> Iterator[str]:
    name = databases.fresh(pg_server)
    yield pg_server.url(name)
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def redis_url(redis_server: embedded.Redis) -> str:
    import redis

    with redis.Redis.from_url(redis_server.url()) as client:
        client.flushall()
    return redis_server.url()


@pytest.fixture
def settings(database_url: str, redis_url: str) -> Settings:
    return api.settings(database_url, redis_url)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=app.create_app(settings)) as test_client:
        test_client.headers.update(api.AUTH)
        yield test_client


@pytest.fixture
async def vclient(database_url: str, redis_url: str) -> AsyncIterator[AsyncTestClient]:
    """An app that takes vectors from clients: 3 dimensions, the space test-vectors/3."""
    settings = api.settings(
        database_url, redis_url, embeddings="none", embeddings_model="test-vectors",
        embeddings_dimensions=3,
    )  # fmt: skip
    async with AsyncTestClient(app=app.create_app(settings)) as test_client:
        test_client.headers.update(api.AUTH)
        yield test_client


@pytest.fixture
async def local(database_url: str, redis_url: str) -> AsyncIterator[AsyncTestClient]:
    """An app with the local model (BRAIN_EMBEDDINGS=local: all-MiniLM-L6-v2, 384 dimensions)."""
    settings = api.settings(database_url, redis_url, embeddings="local")
    async with AsyncTestClient(app=app.create_app(settings)) as test_client:
        test_client.headers.update(api.AUTH)
        yield test_client


@pytest.fixture
def db_conn(database_url: str) -> Iterator[psycopg.Connection]:
    """A direct connection to the test's database, to check what was (not) written."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn
