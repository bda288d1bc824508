"""Indexes serve every query shape: no sequential scan on memories at 100k rows (EXPLAIN); the
per-space HNSW index serves queries by meaning, filtered or not (20k rows)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import psycopg
import pytest

from brain.agents import repository as agents
from brain.kit import db, embeddings, pagination
from brain.memory import repository
from brain.memory.schemas import QueryIn
from brain.memory.service import TIES, QueryPlan

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


# -- queries by meaning -------------------------------------------------------------------------

VECTOR_ROWS = 20_000
"""Rows of 3-dimensional client vectors (the `test-vectors/3` space of the tests' template): at
a few thousand the planner rightly prefers hashing the whole (small) table for the final join."""
SPACE = embeddings.ClientVectors("test-vectors", 3)


@pytest.fixture(scope="module")
def with_vectors(pg_server) -> Any:
    """Memories with vectors, half of them tagged `half`, of agents agent0..agent19, a word
    `topic<n>` in 1 of 100; a few of another space (with its own, absent, index)."""
    from tests.support import databases

    name = databases.fresh(pg_server)
    url = pg_server.url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO memories (workspace, id, agent_id, context, tags, importance, created_at,
                                  embedding, embedding_space)
            SELECT 'default', gen_random_uuid(), 'agent' || (i %% 20),
                   jsonb_build_object('note', 'observation ' || i || ' about topic' || (i %% 100)),
                   ARRAY[CASE WHEN i %% 2 = 0 THEN 'half' ELSE 'other' END],
                   (i %% 1000) / 1000.0, now() - make_interval(secs => i * 60),
                   ARRAY[random() * 2 - 1, random() * 2 - 1, random() * 2 - 1]::vector,
                   CASE WHEN i %% 1000 = 0 THEN 'other-model/3' ELSE %s END
            FROM generate_series(1, %s) AS i
            """,
            (SPACE.space, VECTOR_ROWS),
        )
        conn.execute("VACUUM ANALYZE memories")
    yield url


async def ranked_plan(url: str, body: dict[str, Any]) -> tuple[QueryPlan, list[Any]]:
    """The plan's parameters as the service makes them, and the nodes of EXPLAIN ANALYZE of
    the statement it runs, planned with its values as the service's are (unprepared), on a
    connection of the service's own pool (its role and settings: hnsw.iterative_scan)."""
    plan = QueryPlan(msgspec.convert(body, QueryIn), "default", CURSORS, SPACE)
    assert plan.kind is not None
    sql = "EXPLAIN (ANALYZE, FORMAT JSON) " + repository.ranked_sql(plan.kind, plan.dimensions)
    async with service_db(url) as database, database.connection(workspace="default") as conn:
        cur = await conn.execute(sql, plan.params, prepare=db.PLAN_EACH_CALL)
        row = await cur.fetchone()
    assert row is not None
    (raw,) = row.values()
    return plan, plan_nodes(raw[0]["Plan"])


@contextlib.asynccontextmanager
async def service_db(url: str) -> AsyncIterator[db.Database]:
    pool = db.pool(url, min_size=1, max_size=1, name="ranked-plans")
    await pool.open(wait=True, timeout=30)
    try:
        yield db.Database(pool)
    finally:
        await pool.close()


CURSORS = pagination.Cursors(b"secret")
QUERY = [0.3, -0.2, 0.9]
HALF = [  # filters that half the rows pass
    {},
    {"tags": ["half"]},
    {"agent_ids": [f"agent{n}" for n in range(10)]},
    {"min_importance": 0.5},
    {"tags": ["half"], "min_score": -1},
]


@pytest.mark.parametrize("filters", HALF, ids=["none", "tags", "agents", "importance", "score"])
async def test_queries_by_meaning_walk_the_space_index(
    with_vectors: str, filters: dict[str, Any]
) -> None:
    """The space's partial HNSW index serves the query, with the filters inside its scan (the
    scan stops once the page and its ties are full: no sort of the matching rows), and the
    page's rows are fetched by primary key."""
    plan, nodes = await ranked_plan(with_vectors, {"vector": QUERY, "limit": 20, **filters})
    index = embeddings.index_name(SPACE.space)
    scans = [n for n in nodes if n.get("Relation Name") == "memories"]
    hnsw = [n for n in scans if n.get("Index Name") == index]
    assert len(hnsw) == 1, json.dumps(nodes, indent=1)
    assert hnsw[0]["Actual Rows"] == plan.params["limit"] + plan.params["ties"], hnsw[0]
    assert "Seq Scan" not in [n["Node Type"] for n in scans], json.dumps(nodes, indent=1)
    assert any(n.get("Index Name") == "memories_pkey" for n in scans), nodes


async def test_a_second_ranked_page_walks_the_index_too(with_vectors: str) -> None:
    """The cursor (distance, id) is a filter inside the same scan."""
    body = {"vector": QUERY, "limit": 20, "tags": ["half"]}
    plan = QueryPlan(msgspec.convert(body, QueryIn), "default", CURSORS, SPACE)
    async with service_db(with_vectors) as database:
        rows = await repository.ranked(database, "semantic", 3, plan.params)
    assert len(rows) == 21
    cursor = plan.cursor_after(rows[19])
    second, nodes = await ranked_plan(with_vectors, {**body, "cursor": cursor})
    assert second.params["after_key"] == pytest.approx(rows[19]["rank_key"])
    hnsw = [n for n in nodes if n.get("Index Name") == embeddings.index_name(SPACE.space)]
    assert len(hnsw) == 1 and hnsw[0]["Actual Rows"] == 21 + TIES, json.dumps(nodes, indent=1)
    assert hnsw[0]["Rows Removed by Filter"] >= 20, hnsw[0]  # the first page, and the others


@pytest.mark.parametrize("filters", [{}, {"tags": ["half"]}], ids=["none", "tags"])
async def test_hybrid_queries_walk_the_space_index_and_the_text_index(
    with_vectors: str, filters: dict[str, Any]
) -> None:
    """Each ranking by its own index: meaning by the space's HNSW (its candidates, filtered
    inside the scan), words by the full-text GIN index."""
    plan, nodes = await ranked_plan(with_vectors, {"vector": QUERY, "text": "topic7", **filters})
    scans = {n.get("Index Name") for n in nodes}  # a Bitmap Index Scan names no relation
    assert embeddings.index_name(SPACE.space) in scans, json.dumps(nodes, indent=1)
    assert "memories_search" in scans, json.dumps(nodes, indent=1)
    assert "Seq Scan" not in [n["Node Type"] for n in nodes if n.get("Relation Name")]
    hnsw = next(n for n in nodes if n.get("Index Name") == embeddings.index_name(SPACE.space))
    assert hnsw["Actual Rows"] == plan.params["candidates"], hnsw
