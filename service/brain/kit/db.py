"""PostgreSQL access: named SQL blocks, the connection pools, and driver errors translated once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import select
import socket
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, LiteralString, Self

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from brain.kit import errors

log = logging.getLogger("brain.db")

Conn = psycopg.AsyncConnection[dict[str, Any]]
Pool = psycopg_pool.AsyncConnectionPool[Conn]
"""A pool of autocommit connections whose rows are dicts."""

# `prepare=` for statements with optional filters (`%(x)s IS NULL OR ...`): never prepared, so
# PostgreSQL plans each execution with its real parameters, the filters that are not given fold
# away and the indexes of the ones given are used. Every other statement is prepared after a few
# executions (psycopg's default) and may run on a generic plan, which skips planning.
PLAN_EACH_CALL = False

STATEMENT_TIMEOUT_S = 5
"""The longest one statement may run before PostgreSQL cancels it (503): every request's work is
milliseconds. A block that needs longer asks for it (`transaction(statement_seconds=...)`)."""
SILENCE_MARGIN_S = 3.0
"""A connection held by one block for its timeout plus this margin is on a server that no longer
answers (a hung node: SIGSTOP, a frozen VM, a partition that drops packets): its statement_timeout
would have ended a statement by then, and TCP does not notice a stopped process. Its socket is
shut, and so is every other connection's to that server: the requests fail at once (503) instead
of hanging, and the pool connects again, to whichever host of the URL is now writable."""
RECONNECT_S = 2.0
"""Once the pool is open, a failed connection attempt is retried for this long (about once a
second), then given up: the next request that needs a connection starts a new attempt at once.
psycopg_pool's default backs off 1, 2, 4, 8, 16 s for 5 minutes, which after a 15 s failover
could leave the service unable to connect for 30 s more."""
SILENT_FOR_S = 60.0
"""For this long after a server was found silent, new connections of a multi-host URL do not
wait on it: it may still accept TCP connections (a stopped process's kernel does) and would cost
each attempt its connect_timeout before the next host, the new primary, is tried
(`Connection.connect`)."""
RETRY_OTHERS_S = 0.5
"""While a silent server's connection attempt runs, how often the other hosts are tried again."""
ROLE = "brain_service"
"""The role every connection of the service works as (`SET ROLE` when it connects): it owns
nothing and has no BYPASSRLS, so PostgreSQL's row-level security holds under every statement
(migration 0004). The URL's user must be that role or a member of it (the owner who migrated)."""
WORKSPACE_SETTING = "brain.workspace"
"""The connection's setting the row-level security policies compare each row's workspace with:
a connection shows the rows of that workspace only, and none while it is unset."""
ALL = "*"
"""The `workspace` of the service's own work across workspaces (the registry, the relay): only
the tables that work needs accept it (migration 0004); every other table shows no row."""
UNREPLICATED = "canceling wait for synchronous replication"
"""The start of PostgreSQL's warning when a commit's wait for a synchronous standby is cancelled
(pg_cancel_backend, a client's cancel request; statement_timeout does not reach the commit): the
commit is local only, and a failover may lose it, so it is not acknowledged (503)."""

_BLOCK = re.compile(r"^--\s*name:\s*(?P<name>[a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def load_queries(path: Path) -> dict[str, LiteralString]:
    """Read a `.sql` file of `-- name: x` blocks into a dict of statements."""
    text = path.read_text(encoding="utf-8")
    marks = list(_BLOCK.finditer(text))
    if not marks:
        raise ValueError(f"{path} has no '-- name:' blocks")
    queries: dict[str, LiteralString] = {}
    for mark, nxt in zip(marks, [*marks[1:], None], strict=True):
        body = text[mark.end() : nxt.start() if nxt else len(text)].strip()
        if mark["name"] in queries:
            raise ValueError(f"{path}: query {mark['name']!r} defined twice")
        queries[mark["name"]] = body  # a file of the package: literal, never input
    return queries


_connections: weakref.WeakKeyDictionary[Conn, tuple[str, str]] = weakref.WeakKeyDictionary()
"""Every open connection of the pools, with the server (host, port) it is connected to."""
_unreplicated: weakref.WeakSet[Conn] = weakref.WeakSet()
"""Connections whose last commit PostgreSQL said may not have reached a synchronous standby."""
_busy: weakref.WeakSet[Conn] = weakref.WeakSet()
"""Connections a block holds now."""
_workspace_of: weakref.WeakKeyDictionary[Conn, str] = weakref.WeakKeyDictionary()
"""The value of WORKSPACE_SETTING on each open connection, as this process last set it."""
_silent: dict[tuple[str, str], float] = {}
"""Servers (host, port) found silent, with the loop time until which new connections do not wait
on them (SILENT_FOR_S)."""


class Connection(psycopg.AsyncConnection[dict[str, Any]]):
    """The pools' connection. With several hosts in the URL and one of them found silent lately
    (SILENT_FOR_S), the silent ones are tried on their own, in the background, while the others
    are tried again every RETRY_OTHERS_S: a failover in progress may make one of them the
    primary at any moment, and a hung server would hold each attempt for its connect_timeout."""

    @classmethod
    async def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
        others, silent = split_silent(conninfo)
        if silent is None:
            return await super().connect(conninfo, **kwargs)
        slow = asyncio.ensure_future(super().connect(silent, **kwargs))
        try:
            while True:
                try:
                    fast = await super().connect(others, **kwargs)
                except psycopg.OperationalError:
                    await asyncio.wait({slow}, timeout=RETRY_OTHERS_S)
                    if slow.done():
                        return await slow  # the silent server answered again, or its error
                else:
                    await _discard(slow)
                    return fast
        except BaseException:
            await _discard(slow)
            raise


async def _discard(attempt: asyncio.Future[Any]) -> None:
    """Stop a connection attempt no longer needed; close what it connected, if it did."""
    attempt.cancel()
    await asyncio.wait({attempt})
    if not attempt.cancelled() and attempt.exception() is None:
        await attempt.result().close()


def split_silent(conninfo: str) -> tuple[str, str | None]:
    """(`conninfo` without the servers found silent in the last SILENT_FOR_S, `conninfo` with
    only those), or (`conninfo`, None): one host, none silent, or all of them silent."""
    now = asyncio.get_running_loop().time()
    for server, until in list(_silent.items()):
        if until <= now:
            del _silent[server]
    if not _silent:
        return conninfo, None
    params = conninfo_to_dict(conninfo)
    hosts = str(params.get("host") or "").split(",")
    if len(hosts) < 2 or "hostaddr" in params:
        return conninfo, None
    ports = str(params.get("port") or "").split(",")
    ports = ports if len(ports) == len(hosts) else ports[:1] * len(hosts)
    pairs = list(zip(hosts, ports, strict=True))
    quiet = [pair for pair in pairs if pair in _silent]
    if not quiet or len(quiet) == len(pairs):
        return conninfo, None

    def only(chosen: list[tuple[str, str]]) -> str:
        part = {**params, "host": ",".join(h for h, _ in chosen)}
        if params.get("port"):
            part["port"] = ",".join(p for _, p in chosen)
        return make_conninfo("", **part)

    return only([pair for pair in pairs if pair not in _silent]), only(quiet)


def _on_notice(conn: Conn) -> Callable[[psycopg.errors.Diagnostic], None]:
    ref = weakref.ref(conn)

    def notice(diag: psycopg.errors.Diagnostic) -> None:
        if (diag.message_primary or "").startswith(UNREPLICATED) and (found := ref()):
            _unreplicated.add(found)

    return notice


def shut(conn: Conn) -> None:
    """Shut the connection's socket (not its descriptor, which psycopg still owns): whatever
    waits on it wakes at once with an error, and the pool discards it."""
    with contextlib.suppress(OSError, psycopg.Error):
        sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


def shut_server(
    server: tuple[str, str], spare: Conn | None = None, *, idle_only: bool = False
) -> int:
    """Shut every connection to `server` (but `spare`; with `idle_only`, none a block holds);
    how many."""
    doomed = [
        c for c, s in list(_connections.items())
        if s == server and c is not spare and not (idle_only and c in _busy)
    ]  # fmt: skip
    for conn in doomed:
        shut(conn)
    return len(doomed)


HNSW_EF_SEARCH = 100
"""Candidates an HNSW search keeps (pgvector's hnsw.ef_search): recall against latency."""


def pool(conninfo: str, *, min_size: int, max_size: int, name: str) -> Pool:
    """A closed pool of autocommit, dict-row connections; the caller opens it (`open_pool`)."""

    async def configure(conn: Conn) -> None:
        # UTC: timestamps rendered to JSON by PostgreSQL (memory_json) come out in UTC.
        await conn.execute(
            f"SET ROLE {ROLE}; SET statement_timeout = '{STATEMENT_TIMEOUT_S}s'; "
            "SET TimeZone = 'UTC'; "
            # pgvector >= 0.8: filters apply inside an HNSW scan, which goes on until the query
            # has its rows (memory/queries.sql, ranked queries); each step of it considers
            # HNSW_EF_SEARCH candidates (pgvector's 40 gave recall@10 0.92-0.95 at 100k rows).
            "SET hnsw.iterative_scan = strict_order; "
            f"SET hnsw.ef_search = {HNSW_EF_SEARCH}"
        )
        _connections[conn] = (conn.info.host, str(conn.info.port))
        conn.add_notice_handler(_on_notice(conn))

    sweeps: set[asyncio.Task[None]] = set()

    async def check(conn: Conn) -> None:
        # On every checkout, without a round trip when nothing suggests one: a connection the
        # server closed (restart, crash, failover, an administrator's kill) has a readable socket
        # (end of file or a FATAL message); a healthy idle one has nothing to read.
        if conn.closed:
            raise psycopg.OperationalError("the connection is closed")
        readable = select.poll()  # poll, not select: a descriptor may be above FD_SETSIZE
        readable.register(conn.pgconn.socket, select.POLLIN)
        if not readable.poll(0):
            return
        try:
            await psycopg_pool.AsyncConnectionPool.check_connection(conn)
        except psycopg.Error:
            # Its siblings died with it: sweep them all now instead of finding them one checkout
            # (and one of the pool's back-off pauses) at a time.
            if not sweeps:
                task = asyncio.create_task(_sweep(created), name=f"sweep-{name}")
                sweeps.add(task)
                task.add_done_callback(sweeps.discard)
            raise

    created: Pool = psycopg_pool.AsyncConnectionPool(
        conninfo,
        connection_class=Connection,
        min_size=min_size,
        max_size=max_size,
        open=False,
        name=name,
        timeout=5.0,
        check=check,
        configure=configure,
        kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": 3},
    )
    return created


async def _sweep(created: Pool) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(STATEMENT_TIMEOUT_S + SILENCE_MARGIN_S):
            await created.check()


async def open_pool(created: Pool, *, wait: bool, wait_seconds: float = 30.0) -> None:
    """Open `created` (waiting up to `wait_seconds` for its first connections when `wait`), then
    retry failed connections briefly, so that a request finds the new primary of a failover at
    once (RECONNECT_S)."""
    await created.open(wait=wait, timeout=wait_seconds)
    created.reconnect_timeout = RECONNECT_S


def write_slots(max_size: int) -> int:
    """How many of a pool's connections writes may hold at once: all but a quarter (at least
    one), which stays for reads."""
    return max(1, max_size - max(1, max_size // 4))


class Database:
    """The primary pool and, when replicas are configured, a pool for lag-tolerant reads.

    Writes hold at most `write_slots` of the primary's connections. A write waits for its commit
    (the WAL flush), and a slow disk now and then stalls every commit at once: without a limit,
    the writes that keep arriving meanwhile take every connection and reads that need no commit
    queue behind them (seen under load: one-second flush stalls gave cache-missing queries the
    writes' latency). Reads are never limited."""

    def __init__(
        self,
        primary: Pool,
        replica: Pool | None = None,
    ) -> None:
        self.primary = primary
        self.replica = replica or primary
        self.writers = asyncio.Semaphore(write_slots(primary.max_size))
        self.writes_waiting = 0  # for a slot (a gauge)

    @contextlib.asynccontextmanager
    async def connection(
        self, *, workspace: str, read_only: bool = False, write: bool = False
    ) -> AsyncIterator[Conn]:
        """A pooled connection working in `workspace` (`enter`); driver errors leave as Brain
        errors. `write`: the block changes data (it takes one of the write slots); `read_only`:
        it may run on a replica."""
        if write:
            async with self._write_slot():
                with translated():
                    async with self.primary.connection() as conn:
                        with guarded(conn, STATEMENT_TIMEOUT_S + SILENCE_MARGIN_S):
                            await enter(conn, workspace)
                            yield conn
            return
        chosen = self.replica if read_only else self.primary
        with translated():
            async with chosen.connection() as conn:
                with guarded(conn, STATEMENT_TIMEOUT_S + SILENCE_MARGIN_S):
                    await enter(conn, workspace)
                    yield conn

    @contextlib.asynccontextmanager
    async def transaction(
        self, *, workspace: str, statement_seconds: int = STATEMENT_TIMEOUT_S
    ) -> AsyncIterator[Conn]:
        """A connection working in `workspace`, inside one transaction on the primary, committed
        when the block ends (a write: it takes one of the write slots); each statement may run
        `statement_seconds`."""
        async with self._write_slot():
            with translated():
                async with self.primary.connection() as conn:
                    with guarded(conn, statement_seconds + SILENCE_MARGIN_S):
                        await enter(conn, workspace)  # before BEGIN: a rollback cannot undo it
                        async with conn.transaction():
                            if statement_seconds != STATEMENT_TIMEOUT_S:
                                await conn.execute(
                                    sql.SQL("SET LOCAL statement_timeout = {}").format(
                                        sql.Literal(f"{int(statement_seconds)}s")
                                    )
                                )
                            yield conn

    @contextlib.asynccontextmanager
    async def _write_slot(self) -> AsyncIterator[None]:
        """Wait for a write slot as long as for a pooled connection, then 503."""
        if self.writers.locked():
            self.writes_waiting += 1
            try:
                async with asyncio.timeout(self.primary.timeout):
                    await self.writers.acquire()
            except TimeoutError:
                raise errors.Unavailable("PostgreSQL is unavailable", retry_after=2) from None
            finally:
                self.writes_waiting -= 1
        else:
            await self.writers.acquire()
        try:
            yield
        finally:
            self.writers.release()

    async def ping(self, wait: float = 2.0) -> None:
        """Raise `errors.Unavailable` unless the primary answers within `wait` seconds."""
        with translated():
            async with self.primary.connection(timeout=wait) as conn:
                with guarded(conn, wait, siblings=False):
                    await conn.execute("SELECT 1")


async def enter(conn: Conn, workspace: str) -> None:
    """Make `conn` work in `workspace` before the block that checked it out runs a statement.

    Every checkout passes here, so a pooled connection never carries one block's workspace into
    the next. The setting is session-wide and set outside any transaction (a rollback would
    restore the previous value behind this process's back); it costs a round trip only when the
    connection last worked in another workspace."""
    if not workspace:
        raise ValueError("a connection needs a workspace")
    if _workspace_of.get(conn) != workspace:
        _workspace_of.pop(conn, None)  # unknown until PostgreSQL confirms the new value
        await conn.execute(
            "SELECT set_config(%s, %s, false)", (WORKSPACE_SETTING, workspace), prepare=True
        )
        _workspace_of[conn] = workspace


@contextlib.contextmanager
def guarded(conn: Conn, limit: float, *, siblings: bool = True) -> Iterator[None]:
    """Hold `conn` for a block: shut it if the block has not ended after `limit` seconds (and,
    with `siblings`, every connection to the same server: SILENCE_MARGIN_S); refuse to
    acknowledge a commit PostgreSQL says is local only (UNREPLICATED); leave a server that turned
    read-only (a demoted primary) for the pool to reconnect."""
    server = _connections.get(conn)
    silent = False

    def expired() -> None:
        nonlocal silent
        silent = True
        shut(conn)
        if server is not None:
            _silent[server] = asyncio.get_running_loop().time() + SILENT_FOR_S
        if siblings and server is not None:
            others = shut_server(server, spare=conn)
            log.warning(
                "PostgreSQL at %s:%s did not answer for %.0f s: %d connections to it shut",
                *server, limit, others + 1,
            )  # fmt: skip

    timer = asyncio.get_running_loop().call_later(limit, expired)
    _busy.add(conn)
    _unreplicated.discard(conn)
    try:
        yield
    except psycopg.OperationalError as exc:
        if silent:
            raise errors.Unavailable(
                f"PostgreSQL did not answer for {limit:.0f} s", retry_after=2
            ) from exc
        raise
    except pg_errors.ReadOnlySqlTransaction:
        shut(conn)
        if server is not None:
            shut_server(server, spare=conn, idle_only=True)
        raise
    finally:
        timer.cancel()
        _busy.discard(conn)
    if conn in _unreplicated:
        _unreplicated.discard(conn)
        raise errors.Unavailable(
            "The commit was not confirmed by a synchronous standby: retry with the same "
            "Idempotency-Key", retry_after=2,
        )  # fmt: skip


@contextlib.contextmanager
def translated() -> Any:
    """Map psycopg's errors to Brain's (once, here in the adapter)."""
    try:
        yield
    except pg_errors.UniqueViolation as exc:
        raise errors.Conflict("A record with this identity already exists") from exc
    except (pg_errors.CheckViolation, pg_errors.NotNullViolation) as exc:
        raise errors.Invalid(f"Rejected by the database: {exc.diag.message_primary}") from exc
    except pg_errors.QueryCanceled as exc:
        raise errors.Unavailable("The database took too long to answer", retry_after=2) from exc
    except pg_errors.ReadOnlySqlTransaction as exc:
        raise errors.Unavailable(
            "PostgreSQL is read-only here (a standby, or a primary being demoted)", retry_after=2
        ) from exc
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
        raise errors.Unavailable("PostgreSQL is unavailable", retry_after=2) from exc
