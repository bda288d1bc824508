"""PostgreSQL access: named SQL blocks, the connection pools, and driver errors translated once."""

from __future__ import annotations

import asyncio
import contextlib
import re
import select
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, LiteralString

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors
from psycopg.rows import dict_row

from brain.kit import errors

Conn = psycopg.AsyncConnection[dict[str, Any]]
Pool = psycopg_pool.AsyncConnectionPool[Conn]
"""A pool of autocommit connections whose rows are dicts."""

# `prepare=` for statements with optional filters (`%(x)s IS NULL OR ...`): never prepared, so
# PostgreSQL plans each execution with its real parameters, the filters that are not given fold
# away and the indexes of the ones given are used. Every other statement is prepared after a few
# executions (psycopg's default) and may run on a generic plan, which skips planning.
PLAN_EACH_CALL = False

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


def pool(conninfo: str, *, min_size: int, max_size: int, name: str) -> Pool:
    """A closed pool of autocommit, dict-row connections; the caller opens it."""

    async def configure(conn: Conn) -> None:
        # UTC: timestamps rendered to JSON by PostgreSQL (memory_json) come out in UTC.
        await conn.execute("SET statement_timeout = '15s'; SET TimeZone = 'UTC'")

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
                task = asyncio.create_task(created.check(), name=f"sweep-{name}")
                sweeps.add(task)
                task.add_done_callback(sweeps.discard)
            raise

    created: Pool = psycopg_pool.AsyncConnectionPool(
        conninfo,
        connection_class=Conn,
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
        self, *, read_only: bool = False, write: bool = False
    ) -> AsyncIterator[Conn]:
        """A pooled connection; driver errors leave as Brain errors. `write`: the block changes
        data (it takes one of the write slots); `read_only`: it may run on a replica."""
        if write:
            async with self._write_slot():
                with translated():
                    async with self.primary.connection() as conn:
                        yield conn
            return
        chosen = self.replica if read_only else self.primary
        with translated():
            async with chosen.connection() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        """A connection inside one transaction on the primary, committed when the block ends
        (a write: it takes one of the write slots)."""
        async with self._write_slot():
            with translated():
                async with self.primary.connection() as conn, conn.transaction():
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
                await conn.execute("SELECT 1")


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
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
        raise errors.Unavailable("PostgreSQL is unavailable", retry_after=2) from exc
