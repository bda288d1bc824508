"""Group commit (brain.batching) stores a memory once, whatever fails after the statement."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import psycopg_pool
import pytest
from psycopg.adapt import Loader
from psycopg.rows import dict_row

from brain.kit import cache, db, pagination
from brain.memory.schemas import MemoryIn
from brain.memory.service import MemoryService


class Unloadable(Loader):
    """A value this side cannot load from an answer (as psycopg could not load a datetime in
    the year 10000): the error comes after PostgreSQL committed the statement."""

    def load(self, data: Any) -> Any:
        raise psycopg.DataError("cannot load this value")


async def test_a_statement_that_may_have_committed_is_not_stored_again(database_url: str) -> None:
    async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
        conn.adapters.register_loader("float8", Unloadable)  # the expiry, as epoch seconds

    pool = psycopg_pool.AsyncConnectionPool(
        database_url, min_size=1, max_size=4, open=False, configure=configure,
        kwargs={"autocommit": True, "row_factory": dict_row},
    )  # fmt: skip
    await pool.open(wait=True)
    try:
        memories = MemoryService(
            db.Database(pool), cache.Cache(None, 300), 65536, pagination.Cursors(b"secret")
        )
        stores = [
            memories.store(
                "default", MemoryIn(agent_id="a", context={"n": n}, ttl_seconds=60), None
            )
            for n in range(6)
        ]
        results = await asyncio.gather(*stores, return_exceptions=True)
    finally:
        await pool.close()
    # The first store went alone, the five that came meanwhile shared one INSERT: each failed
    # (no answer could be read), and each is in the database once.
    assert all(isinstance(r, psycopg.DataError) for r in results), results
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT context->>'n' FROM memories ORDER BY 1").fetchall()
    assert [r[0] for r in rows] == [str(n) for n in range(6)]


@pytest.mark.parametrize("refused", [0, 3])
async def test_a_refused_statement_stores_each_memory_alone(
    database_url: str, refused: int
) -> None:
    """PostgreSQL refused the shared statement, so it wrote nothing: each memory is stored on its
    own and only the one the database refuses fails."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            f"ALTER TABLE memories ADD CONSTRAINT refuse CHECK ((context->>'n')::int <> {refused})"
        )
    pool = db.pool(database_url, min_size=1, max_size=4, name="test")
    await pool.open(wait=True)
    try:
        memories = MemoryService(
            db.Database(pool), cache.Cache(None, 300), 65536, pagination.Cursors(b"secret")
        )
        stores = [
            memories.store("default", MemoryIn(agent_id="a", context={"n": n}), None)
            for n in range(6)
        ]
        results = await asyncio.gather(*stores, return_exceptions=True)
    finally:
        await pool.close()
    failed = [n for n, r in enumerate(results) if isinstance(r, Exception)]
    assert failed == [refused]
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT (context->>'n')::int FROM memories ORDER BY 1").fetchall()
    assert [r[0] for r in rows] == [n for n in range(6) if n != refused]
