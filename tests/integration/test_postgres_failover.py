"""What the service does when PostgreSQL fails over, hangs, turns read-only or cannot confirm a
synchronous commit: it answers 503 with Retry-After (never a 500, never a hang, never a 2xx for a
write that may not survive), and it takes the new primary as soon as one answers.

Each test runs on a PostgreSQL of its own, which it stops, freezes (SIGSTOP) or reconfigures.
`make drill` measures the same behaviour on a three-node Patroni cluster."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil
import pytest
from litestar.testing import AsyncTestClient
from psycopg.conninfo import conninfo_to_dict

from brain import app, embedded, migrate
from brain.kit import db
from tests.support.api import AUTH
from tests.support.api import settings as make_settings


@pytest.fixture
def own_pg(tmp_path: Path) -> Iterator[embedded.Postgres]:
    tmp_path.chmod(0o755)
    server = embedded.Postgres(tmp_path / "pg")
    server.start()
    migrate.apply(server.url())
    yield server
    _signal_all(server, signal.SIGCONT)
    server.stop()


@pytest.fixture
async def own_client(own_pg: embedded.Postgres, redis_url: str) -> AsyncIterator[AsyncTestClient]:
    settings = make_settings(own_pg.url(), redis_url, db_pool_min=2, db_pool_max=4)
    async with AsyncTestClient(app=app.create_app(settings)) as client:
        client.headers.update(AUTH)
        yield client


def _signal_all(server: embedded.Postgres, sig: signal.Signals) -> None:
    """`sig` to the postmaster and every process it started."""
    pid = server.running_pid()
    if pid is None:
        return
    postmaster = psutil.Process(pid)
    for process in [postmaster, *postmaster.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(sig)


_END_WAITS = "SELECT count({verb}(pid)) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
"""Cancel or end every backend whose commit waits for a synchronous standby; how many."""


def _store(note: str) -> dict[str, object]:
    return {"agent_id": "a", "context": {"note": note}}


async def test_the_new_primary_is_taken_within_seconds_of_answering(
    own_pg: embedded.Postgres, own_client: AsyncTestClient
) -> None:
    """After a 16 s outage the next connection attempt must not be half a minute away: the
    pool's default back-off (1, 2, 4, 8, 16 s) would next try at about 31 s."""
    client = own_client
    assert (await client.post("/v1/memories", json=_store("before"))).status_code == 201
    port = own_pg.port
    own_pg.stop()
    outage_ends = time.monotonic() + 16
    while time.monotonic() < outage_ends:
        answer = await client.post("/v1/memories", json=_store("during"))
        assert answer.status_code == 503, answer.text
        assert "retry-after" in answer.headers
    own_pg.start(port=port)
    back = time.monotonic()
    while (await client.post("/v1/memories", json=_store("after"))).status_code != 201:
        assert time.monotonic() - back < 8, "the service did not reconnect within 8 s"
        await asyncio.sleep(0.1)


async def test_a_hung_server_gets_503_not_a_hang(
    own_pg: embedded.Postgres, own_client: AsyncTestClient
) -> None:
    """A stopped server keeps its TCP connections open and never cancels a statement itself:
    without a limit of the client's own, the request would wait for as long as the server
    hangs, holding its connection and write slot."""
    client = own_client
    assert (await client.post("/v1/memories", json=_store("before"))).status_code == 201
    _signal_all(own_pg, signal.SIGSTOP)
    try:
        started = time.monotonic()
        answer = await asyncio.wait_for(client.post("/v1/memories", json=_store("hung")), 30)
        waited = time.monotonic() - started
        assert answer.status_code == 503, answer.text
        assert "retry-after" in answer.headers
        assert waited < db.STATEMENT_TIMEOUT_S + db.SILENCE_MARGIN_S + 4
    finally:
        _signal_all(own_pg, signal.SIGCONT)
    deadline = time.monotonic() + 20
    while (await client.post("/v1/memories", json=_store("after"))).status_code != 201:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)


async def test_a_read_only_server_gets_503_and_a_new_connection(
    own_pg: embedded.Postgres, own_client: AsyncTestClient
) -> None:
    """A primary that turned read-only (being demoted; or the URL names a standby): writes are
    503, not 500, and its connections are dropped so that the pool connects again."""
    client = own_client
    created = await client.post("/v1/memories", json=_store("before"))
    assert created.status_code == 201
    own_pg.psql("ALTER SYSTEM SET default_transaction_read_only = on", db="postgres")
    own_pg.psql("SELECT pg_reload_conf()", db="postgres")
    await asyncio.sleep(0.5)
    answer = await client.post("/v1/memories", json=_store("refused"))
    assert answer.status_code == 503, answer.text
    assert "read-only" in answer.json()["detail"]
    assert "retry-after" in answer.headers
    read = await client.get(f"/v1/memories/{created.json()['id']}")
    assert read.status_code == 200  # reads go on
    own_pg.psql("ALTER SYSTEM RESET default_transaction_read_only", db="postgres")
    own_pg.psql("SELECT pg_reload_conf()", db="postgres")
    await asyncio.sleep(0.5)
    assert (await client.post("/v1/memories", json=_store("after"))).status_code == 201


async def test_a_commit_no_standby_confirmed_is_not_acknowledged(
    own_pg: embedded.Postgres, own_client: AsyncTestClient
) -> None:
    """With synchronous replication a commit waits for a standby. A standby that never answers:
    503 once the server has been silent too long. A wait that is cancelled (pg_cancel_backend):
    PostgreSQL commits locally and only warns, and answering 201 would acknowledge a write a
    failover can lose; it is 503 too. The retry with the same Idempotency-Key, once a standby
    confirms, answers the one memory stored."""
    client = own_client
    own_pg.psql("ALTER SYSTEM SET synchronous_standby_names = 'standby'", db="postgres")
    own_pg.psql("SELECT pg_reload_conf()", db="postgres")
    await asyncio.sleep(0.5)
    key = {"Idempotency-Key": "commit-unconfirmed"}
    try:
        waited = await client.post("/v1/memories", json=_store("never"))
        assert waited.status_code == 503, waited.text
        assert "did not answer" in waited.json()["detail"]

        # The first commit's backend still waits (the service gave up on it): end it, so that
        # the only wait left to cancel is the next request's.
        own_pg.psql(_END_WAITS.format(verb="pg_terminate_backend"))

        # The test client blocks this event loop while the app serves a request: the waits are
        # cancelled from a thread.
        done = threading.Event()
        cancelled: list[int] = []

        def cancel_the_waits() -> None:
            while not done.wait(0.1):
                cancelled.append(int(own_pg.psql(_END_WAITS.format(verb="pg_cancel_backend"))))

        canceller = threading.Thread(target=cancel_the_waits)
        canceller.start()
        try:
            answer = await client.post("/v1/memories", json=_store("unconfirmed"), headers=key)
        finally:
            done.set()
            canceller.join()
        assert sum(cancelled) >= 1
        assert answer.status_code == 503, answer.text
        assert "synchronous standby" in answer.json()["detail"]
        assert "retry-after" in answer.headers
    finally:
        own_pg.psql("ALTER SYSTEM RESET synchronous_standby_names", db="postgres")
        own_pg.psql(_END_WAITS.format(verb="pg_terminate_backend"))
        own_pg.psql("SELECT pg_reload_conf()", db="postgres")
    await asyncio.sleep(0.5)
    retried = await client.post("/v1/memories", json=_store("unconfirmed"), headers=key)
    assert retried.status_code == 201, retried.text
    count = own_pg.psql("SELECT count(*) FROM memories WHERE context->>'note' = 'unconfirmed'")
    assert count.strip() == "1"


@pytest.fixture
def second_pg(tmp_path: Path) -> Iterator[embedded.Postgres]:
    server = embedded.Postgres(tmp_path / "pg2")
    server.start()
    migrate.apply(server.url())
    yield server
    server.stop()


async def test_a_silent_server_is_tried_last_by_new_connections(
    own_pg: embedded.Postgres, second_pg: embedded.Postgres, redis_url: str
) -> None:
    """A multi-host URL (as for a Patroni cluster): once the first host is found silent, new
    connections go to the next host at once. A stopped server's kernel still accepts the TCP or
    socket connection, so trying it first would cost every attempt its connect_timeout (3 s)."""
    hosts = f"{own_pg.socket_dir},{second_pg.socket_dir}"
    ports = f"{own_pg.port},{second_pg.port}"
    url = f"postgresql://postgres@/brain?host={hosts}&port={ports}"
    settings = make_settings(url, redis_url, db_pool_min=2, db_pool_max=4)
    async with AsyncTestClient(app=app.create_app(settings)) as client:
        client.headers.update(AUTH)
        assert (await client.post("/v1/memories", json=_store("first"))).status_code == 201
        _signal_all(own_pg, signal.SIGSTOP)
        hung = await client.post("/v1/memories", json=_store("hung"))
        assert hung.status_code == 503, hung.text
        found_silent = time.monotonic()
        while (await client.post("/v1/memories", json=_store("next"))).status_code != 201:
            assert time.monotonic() - found_silent < 10, "no connection to the second host"
            await asyncio.sleep(0.05)
        assert time.monotonic() - found_silent < 2.5, "the silent server was tried first"
    stored = second_pg.psql("SELECT count(*) FROM memories WHERE context->>'note' = 'next'")
    assert stored.strip() == "1"


async def test_a_host_turning_primary_is_taken_while_the_silent_one_still_hangs(
    own_pg: embedded.Postgres, second_pg: embedded.Postgres
) -> None:
    """A failover in progress: the old primary hangs, the other host is still a standby
    (read-only) and turns primary while a connection attempt waits on the old one. The attempt
    takes the new primary within a second, not after the hung server's connect_timeout."""
    set_read_only = "ALTER SYSTEM SET default_transaction_read_only = {}"
    second_pg.psql(set_read_only.format("on"), db="postgres")
    second_pg.psql("SELECT pg_reload_conf()", db="postgres")
    hosts = f"{own_pg.socket_dir},{second_pg.socket_dir}"
    url = (
        f"postgresql://postgres@/brain?host={hosts}&port={own_pg.port},{second_pg.port}"
        "&target_session_attrs=read-write&connect_timeout=3"
    )
    hung = (str(own_pg.socket_dir), str(own_pg.port))
    _signal_all(own_pg, signal.SIGSTOP)
    db._silent[hung] = asyncio.get_running_loop().time() + 30
    try:

        async def promote() -> None:
            await asyncio.sleep(0.7)
            await asyncio.to_thread(second_pg.psql, set_read_only.format("off"), "postgres")
            await asyncio.to_thread(second_pg.psql, "SELECT pg_reload_conf()", "postgres")

        promoted = asyncio.create_task(promote())
        started = time.monotonic()
        conn = await db.Connection.connect(url, autocommit=True)
        took = time.monotonic() - started
        await promoted
        try:
            assert conn.info.port == second_pg.port
            assert took < 2.5, f"waited {took:.1f} s: on the hung server's connect_timeout"
        finally:
            await conn.close()
    finally:
        db._silent.pop(hung, None)


async def test_split_silent_only_splits_a_multi_host_url() -> None:
    db._silent[("b", "2")] = asyncio.get_running_loop().time() + 5
    try:
        others, silent = db.split_silent("host=a,b,c port=1,2,3 dbname=x")
        assert silent is not None
        assert (conninfo_to_dict(others)["host"], conninfo_to_dict(others)["port"]) == (
            "a,c",
            "1,3",
        )
        assert (conninfo_to_dict(silent)["host"], conninfo_to_dict(silent)["port"]) == ("b", "2")
        assert conninfo_to_dict(silent)["dbname"] == "x"
        one_port = db.split_silent("host=b,a port=2 dbname=x")
        assert [conninfo_to_dict(c)["host"] for c in one_port if c] == ["a", "b"]
        for unchanged in ("host=b port=2 dbname=x", "host=b,b port=2,2"):
            assert db.split_silent(unchanged) == (unchanged, None)  # one host; all silent
        db._silent[("b", "2")] = 0.0  # expired: forgotten
        assert db.split_silent("host=b,a port=2,1") == ("host=b,a port=2,1", None)
        assert ("b", "2") not in db._silent
    finally:
        db._silent.pop(("b", "2"), None)
