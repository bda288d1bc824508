"""Indexes serve every query shape: no sequential scan on memories at 100k rows (EXPLAIN)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import psycopg
import pytest

from brain.agents import repository as agents
from brain.kit import db, pagination
from brain.memory import repository
from brain.memory.schemas import QueryIn
from brain.memory.service import QueryPlan

ROWS = 100_000


@pytest.fixture(scope="module")
def loaded(pg_server) -> Any:
    from tests.support import databases

    name = databases.fresh(pg_server)
    url = pg_server.url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO memories (workspace, id, agent_id, context, tags, importance, created_at,
                                  expires_at)
            SELECT 'default', gen_random_uuid(), 'agent' || (i %% 200),
                   jsonb_build_object('note', 'observation ' || i || ' about topic' || (i %% 1000),
                                      'n', i),
                   ARRAY['tag' || (i %% 500), 'group' || (i %% 50)],
                   (i %% 1000) / 1000.0,
                   now() - make_interval(secs => i * 60),
                   CASE WHEN i %% 10 = 0 THEN now() + interval '1 day' END
            FROM generate_series(1, %s) AS i
            """,
            (ROWS,),
        )
        conn.execute("VACUUM ANALYZE memories")
    yield url


def base(**changes: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "workspace": "default", "agent_id": None, "agent_ids": None, "tags_any": None,
        "tags_all": None,
        "min_importance": None, "since": None, "until": None, "text": None, "limit": 21,
        "after_created_at": None, "after_id": None, "after_importance": None,
    }  # fmt: skip
    return params | changes


def week_ago() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=7)


SHAPES = [
    ("recent", base(agent_id="agent7")),
    ("importance", base(agent_id="agent7")),
    ("recent", base(agent_ids=["agent7", "agent8", "agent9"])),
    ("recent", base(tags_any=["tag42"])),
    ("recent", base(tags_any=["tag42", "tag43"])),
    ("recent", base(tags_all=["tag42", "group42"])),
    ("importance", base(tags_any=["tag42"])),
    ("recent", base(min_importance=0.99)),
    ("importance", base(min_importance=0.5)),
    ("recent", base(since=week_ago())),
    ("recent", base(until=week_ago())),
    ("recent", base(text="topic77")),
    ("importance", base(text="topic77")),
    (
        "recent",
        base(agent_id="agent7", tags_any=["tag7"], min_importance=0.1, text="observation"),
    ),
    ("recent", base()),
    ("importance", base()),
]


def as_service(conn: psycopg.Connection) -> psycopg.Connection:
    """Work as the service does: its role, under row-level security, in the workspace."""
    conn.execute(f"SET ROLE {db.ROLE}")
    conn.execute("SELECT set_config(%s, 'default', false)", (db.WORKSPACE_SETTING,))
    return conn


def plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node.get("Plans", []) for n in plan_nodes(child))]


@pytest.mark.parametrize(("order", "params"), SHAPES)
def test_no_sequential_scan(loaded: str, order: str, params: dict[str, Any]) -> None:
    # An unprepared statement is planned with its parameters, as the service runs it (see the
    # next test): absent filters fold away.
    sql = "EXPLAIN (FORMAT JSON) " + repository.SQL[f"query_{order}"]
    with psycopg.connect(loaded, autocommit=True) as conn:
        (raw,) = as_service(conn).execute(sql, params).fetchone()  # type: ignore[misc]
    plan = raw if isinstance(raw, list) else json.loads(raw)
    nodes = plan_nodes(plan[0]["Plan"])
    scans = [n["Node Type"] for n in nodes if n.get("Relation Name") == "memories"]
    assert scans, nodes
    assert "Seq Scan" not in scans, json.dumps(plan, indent=1)


@pytest.mark.parametrize(
    ("order", "index"),
    [("recent", "memories_agent_recent"), ("importance", "memories_agent_importance")],
)
def test_one_agent_reads_its_own_index_in_order(loaded: str, order: str, index: str) -> None:
    """A query for one agent walks that agent's index and stops at the page size: with
    `agent_id = ANY (array)`, PostgreSQL scanned the workspace's index and filtered."""
    query = QueryIn(agent_id="agent7", order=order, limit=20)  # type: ignore[arg-type]
    plan = QueryPlan(query, "default", pagination.Cursors(b"secret"))
    sql = "EXPLAIN (ANALYZE, FORMAT JSON) " + repository.SQL[f"query_{order}"]
    with psycopg.connect(loaded, autocommit=True) as conn:
        (raw,) = as_service(conn).execute(sql, plan.params).fetchone()  # type: ignore[misc]
    nodes = plan_nodes(raw[0]["Plan"])
    scan = next(n for n in nodes if n.get("Relation Name") == "memories")
    assert scan.get("Index Name") == index, nodes
    assert scan["Actual Rows"] == 21 and not scan.get("Rows Removed by Filter"), scan


def test_second_page_uses_the_index(loaded: str) -> None:
    with psycopg.connect(loaded, autocommit=True) as conn:
        row = conn.execute(
            "SELECT created_at, id FROM memories"
            " ORDER BY created_at DESC, id DESC OFFSET 40 LIMIT 1"
        ).fetchone()
        assert row is not None
        params = base(agent_ids=None, after_created_at=row[0], after_id=row[1])
        (raw,) = (
            as_service(conn)
            .execute("EXPLAIN (FORMAT JSON) " + repository.SQL["query_recent"], params)
            .fetchone()
        )  # type: ignore[misc]
    nodes = plan_nodes(raw[0]["Plan"])
    assert any(n.get("Index Name") == "memories_recent" for n in nodes), nodes


async def test_filtered_statements_are_never_prepared(loaded: str) -> None:
    """Statements with optional filters run unprepared (planned per call); the others are
    prepared (psycopg prepares on the 5th execution), so generic plans may skip planning."""
    pool = db.pool(loaded, min_size=1, max_size=1, name="plans")
    await pool.open(wait=True, timeout=30)
    try:
        database = db.Database(pool)
        for _ in range(8):
            await repository.query(database, "recent", base(agent_id="agent7"))
            await repository.query(database, "importance", base(tags_any=["tag42"]))
            await agents.page(database, "default", None, 10)
            await agents.get(database, "default", "nobody")
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT statement FROM pg_prepared_statements")
            prepared = [row["statement"] for row in await cur.fetchall()]
    finally:
        await pool.close()
    assert any("FROM agents a WHERE a.workspace" in s for s in prepared), prepared
    optional = re.compile(r"\$\d+::[a-z0-9]+(\[\])? IS NULL OR")
    assert not [s for s in prepared if optional.search(s)], prepared


@pytest.mark.parametrize(
    ("order", "params", "index"),
    [
        ("recent", base(tags_all=["tag42", "group42"]), "memories_tags"),
        ("importance", base(tags_any=["tag42"]), "memories_tags"),
        ("recent", base(text="topic77"), "memories_search"),
        ("importance", base(text="topic77"), "memories_search"),
    ],
)
def test_gin_indexes_serve_filters_under_row_level_security(
    loaded: str, order: str, params: dict[str, Any], index: str
) -> None:
    """Tag and text conditions run inside their GIN index scan for the service's role too: a
    policy's condition comes first unless theirs are LEAKPROOF (migration 0004), and without
    that these queries read the whole workspace (measured: 0.7 ms became 54 ms at 100k)."""
    sql = "EXPLAIN (FORMAT JSON) " + repository.SQL[f"query_{order}"]
    with psycopg.connect(loaded, autocommit=True) as conn:
        (raw,) = as_service(conn).execute(sql, params).fetchone()  # type: ignore[misc]
    nodes = plan_nodes(raw[0]["Plan"])
    assert any(n.get("Index Name") == index for n in nodes), json.dumps(raw, indent=1)
