"""The database's own backstop (G7): row-level security under every statement of the service's
role, whatever a query forgets to filter, and pooled connections that never carry one request's
workspace into the next."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from brain.kit import db

TABLES = {  # table: the column holding its workspace
    "workspaces": "id", "agents": "workspace", "memories": "workspace",
    "idempotency_keys": "workspace", "messages": "workspace", "message_deliveries": "workspace",
    "api_keys": "workspace", "audit": "workspace",
}  # fmt: skip
ACROSS = {"workspaces", "messages", "message_deliveries", "memories"}
"""The tables the service's own work reads across workspaces (db.ALL): the registry, the outbox,
and memories for the embedding backfill and `brain reembed` (migration 0006)."""


def plant(conn: psycopg.Connection, workspace: str) -> None:
    """A row of `workspace` in every table (as the owner: a superuser, whom RLS does not bind)."""
    params = {"w": workspace}
    conn.execute("INSERT INTO workspaces (id, name) VALUES (%(w)s, %(w)s)", params)
    conn.execute("INSERT INTO agents (workspace, id) VALUES (%(w)s, 'a')", params)
    conn.execute(
        "INSERT INTO memories (workspace, id, agent_id, context) "
        "VALUES (%(w)s, gen_random_uuid(), 'a', jsonb_build_object('marker', %(w)s::text))",
        params,
    )
    conn.execute(
        "INSERT INTO idempotency_keys (workspace, key, request_hash) VALUES (%(w)s, 'k', '')",
        params,
    )
    message = conn.execute(
        "INSERT INTO messages (workspace, id, from_agent, to_agent, context, priority) "
        "VALUES (%(w)s, gen_random_uuid(), 'a', 'a', '{}', 1) RETURNING id, seq",
        params,
    ).fetchone()
    assert message is not None
    conn.execute(
        "INSERT INTO message_deliveries (workspace, message_id, agent_id, seq) "
        "VALUES (%(w)s, %(id)s, 'a', %(seq)s)",
        {**params, "id": message[0], "seq": message[1]},
    )
    conn.execute(
        "INSERT INTO api_keys (workspace, id, name, digest, prefix, scopes) "
        "VALUES (%(w)s, gen_random_uuid(), 'k', sha256(convert_to(%(w)s::text, 'UTF8')), "
        "'brk_', '{admin}')",
        params,
    )
    conn.execute("INSERT INTO audit (workspace, action) VALUES (%(w)s, 'clear')", params)


@pytest.fixture
def planted(db_conn: psycopg.Connection) -> None:
    for workspace in ("wa", "wb"):
        plant(db_conn, workspace)


@pytest.fixture
def as_service(database_url: str, planted: None) -> psycopg.Connection:
    """A connection as the service's role itself, as the Helm chart connects."""
    with psycopg.connect(make_conninfo(database_url, user=db.ROLE), autocommit=True) as conn:
        yield conn


def seen(conn: psycopg.Connection, table: str) -> list[str]:
    column = TABLES[table]
    rows = conn.execute(f"SELECT {column} FROM {table}").fetchall()  # noqa: S608 - our names
    return sorted(str(r[0]) for r in rows)


def test_the_service_role_owns_nothing_and_bypasses_nothing(as_service: psycopg.Connection) -> None:
    role = as_service.execute(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles "
        "WHERE rolname = current_user"
    ).fetchone()
    assert role == (False, False, False, False)
    owned = as_service.execute(
        "SELECT count(*) FROM pg_class WHERE relowner = current_user::regrole"
    ).fetchone()
    assert owned == (0,)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_service.execute("ALTER TABLE memories DISABLE ROW LEVEL SECURITY")


def test_an_unfiltered_select_sees_its_workspace_only(as_service: psycopg.Connection) -> None:
    as_service.execute("SELECT set_config('brain.workspace', 'wa', false)")
    for table in TABLES:
        assert set(seen(as_service, table)) == {"wa"}, table
    as_service.execute("SELECT set_config('brain.workspace', 'wb', false)")
    for table in TABLES:
        assert set(seen(as_service, table)) == {"wb"}, table


def test_no_workspace_set_sees_nothing(as_service: psycopg.Connection) -> None:
    for table in TABLES:
        assert seen(as_service, table) == [], table
    as_service.execute("SELECT set_config('brain.workspace', '', false)")
    for table in TABLES:
        assert seen(as_service, table) == [], table


def test_across_workspaces_is_for_the_registry_the_outbox_and_the_backfill_only(
    as_service: psycopg.Connection,
) -> None:
    as_service.execute("SELECT set_config('brain.workspace', %s, false)", (db.ALL,))
    for table in TABLES:
        expected = ["default", "wa", "wb"] if table == "workspaces" else ["wa", "wb"]
        assert seen(as_service, table) == (expected if table in ACROSS else []), table


def test_another_workspace_cannot_be_written(as_service: psycopg.Connection) -> None:
    as_service.execute("SELECT set_config('brain.workspace', 'wa', false)")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        as_service.execute(
            "INSERT INTO memories (workspace, id, agent_id, context) "
            "VALUES ('wb', gen_random_uuid(), 'a', '{}')"
        )
    assert (
        as_service.execute("UPDATE memories SET importance = 1 WHERE workspace = 'wb'").rowcount
        == 0
    )
    assert as_service.execute("DELETE FROM memories WHERE workspace = 'wb'").rowcount == 0
    assert as_service.execute("DELETE FROM api_keys").rowcount == 1  # its own only
    as_service.execute("SELECT set_config('brain.workspace', 'wb', false)")
    assert seen(as_service, "api_keys") == ["wb"]


async def test_the_service_pool_works_as_the_role_whatever_its_url_says(
    database_url: str, planted: None
) -> None:
    """The tests' URL names the superuser; every pooled connection still works as the role."""
    pool = db.pool(database_url, min_size=1, max_size=1, name="rls")
    await db.open_pool(pool, wait=True)
    database = db.Database(pool)
    try:
        async with database.connection(workspace="wa") as conn:
            row = await (await conn.execute("SELECT current_user AS who")).fetchone()
            assert row is not None and row["who"] == db.ROLE
            rows = await (await conn.execute("SELECT workspace FROM memories")).fetchall()
            assert [r["workspace"] for r in rows] == ["wa"]
    finally:
        await pool.close()


async def test_a_pooled_connection_never_carries_a_workspace_into_the_next(
    database_url: str, planted: None
) -> None:
    pool = db.pool(database_url, min_size=1, max_size=1, name="hygiene")  # one connection
    await db.open_pool(pool, wait=True)
    database = db.Database(pool)

    async def markers(workspace: str) -> list[str]:
        async with database.connection(workspace=workspace, read_only=True) as conn:
            cur = await conn.execute("SELECT context->>'marker' AS m FROM memories")
            return [r["m"] for r in await cur.fetchall()]

    try:
        assert await markers("wb") == ["wb"]
        assert await markers("wa") == ["wa"]
        # a transaction that fails in B, then A on the same connection
        with pytest.raises(RuntimeError):
            async with database.transaction(workspace="wb") as conn:
                await conn.execute("DELETE FROM memories")
                raise RuntimeError("rolled back")
        assert await markers("wa") == ["wa"]
        assert await markers("wb") == ["wb"]  # and B's delete was rolled back
        with pytest.raises(ValueError, match="workspace"):
            async with database.connection(workspace=""):
                pass
    finally:
        await pool.close()
