"""Statements that update the same deliveries concurrently lock them in one order (primary key),
so that they never deadlock: a deadlock cost its victim a second (deadlock_timeout), then a 503
("PostgreSQL is unavailable"), seen once in a mixed load run as an ack against the share path's
`mark_enqueued`."""

from __future__ import annotations

import asyncio
import random
import uuid

import psycopg
import pytest

from brain.kit import db
from brain.messaging import repository

AGENTS = [f"agent-{i}" for i in range(4)]
MESSAGES = 60
ROUNDS = 30


@pytest.fixture
async def database(database_url: str):  # type: ignore[no-untyped-def]
    pool = db.pool(database_url, min_size=4, max_size=4, name="locks")
    await pool.open(wait=True, timeout=30)
    yield db.Database(pool)
    await pool.close()


def deliveries(conn: psycopg.Connection) -> list[tuple[str, uuid.UUID]]:
    ids = [uuid.uuid4() for _ in range(MESSAGES)]
    with conn.cursor() as cur:
        for message_id in ids:
            cur.execute(
                "INSERT INTO messages (workspace, id, from_agent, context, priority)"
                " VALUES ('default', %s, 'sender', '{}', 1)",
                (message_id,),
            )
            for agent in AGENTS:
                cur.execute(
                    "INSERT INTO message_deliveries (workspace, message_id, agent_id, seq)"
                    " VALUES ('default', %s, %s, 1)",
                    (message_id, agent),
                )
    return [(agent, message_id) for message_id in ids for agent in AGENTS]


async def test_acks_marks_and_requeues_of_the_same_deliveries_never_deadlock(
    database: db.Database, db_conn: psycopg.Connection
) -> None:
    rows = deliveries(db_conn)
    rng = random.Random(7)

    async def mark(order: list[tuple[str, uuid.UUID]]) -> None:
        async with database.connection(workspace="default") as conn:
            await repository.mark_enqueued(
                conn, [{"workspace": "default", "agent_id": a, "message_id": m} for a, m in order]
            )

    async def ack(agent: str) -> None:
        ids = [m for a, m in rows if a == agent]
        rng.shuffle(ids)
        await repository.ack(database, "default", agent, ids)

    for _ in range(ROUNDS):
        db_conn.execute("UPDATE message_deliveries SET acked_at = NULL, enqueued = false")
        forward, backward = list(rows), list(reversed(rows))
        rng.shuffle(forward)
        await asyncio.gather(
            mark(forward),
            mark(backward),
            repository.requeue_unacked(database, 86400),
            *(ack(a) for a in AGENTS),
        )
    acked = db_conn.execute("SELECT count(*) FROM message_deliveries WHERE acked_at IS NOT NULL")
    assert acked.fetchone() == (len(rows),)
