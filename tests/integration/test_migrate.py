"""`brain migrate`: ordered files applied once, in one transaction, recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import psycopg
import pytest
import redis

from brain import embedded, migrate
from brain.kit import embeddings, keys
from tests.support.api import repo_root


@pytest.fixture
def empty_db(pg_server: embedded.Postgres) -> str:
    name = f"empty_{uuid.uuid4().hex}"
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_server.url(name)


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_apply_then_no_op(empty_db: str) -> None:
    assert [m.version for m in migrate.pending(empty_db)] == [
        m.version for m in migrate.available()
    ]
    applied = migrate.apply(empty_db)
    assert [m.version for m in applied] == [m.version for m in migrate.available()]
    assert {"agents", "memories", "idempotency_keys", "schema_migrations"} <= tables(empty_db)
    assert migrate.apply(empty_db) == []
    assert migrate.pending(empty_db) == []


def test_every_table_has_a_workspace(empty_db: str) -> None:
    """Every table but the bookkeeping keeps its rows per workspace (the registry's own rows are
    the workspaces), under row-level security that binds its owner too (G7)."""
    migrate.apply(empty_db)
    with psycopg.connect(empty_db) as conn:
        unprotected = conn.execute(
            """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'schema_migrations'
                 AND NOT (c.relrowsecurity AND c.relforcerowsecurity)"""
        ).fetchall()
        assert unprotected == []
        rows = conn.execute(
            """SELECT t.table_name FROM information_schema.tables t
               WHERE t.table_schema = 'public'
                 AND t.table_name NOT IN ('schema_migrations', 'workspaces')
                 AND NOT EXISTS (SELECT 1 FROM information_schema.columns c
                                 WHERE c.table_name = t.table_name
                                   AND c.column_name = 'workspace')"""
        ).fetchall()
    assert rows == []


def test_changed_history_is_refused(empty_db: str) -> None:
    migrate.apply(empty_db)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
    with pytest.raises(migrate.MigrationError, match="changed after it was applied"):
        migrate.apply(empty_db)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (9999, 'future', 'x')")
        conn.execute("UPDATE schema_migrations SET checksum = %s WHERE version = 1",
                     (migrate.available()[0].checksum,))  # fmt: skip
    with pytest.raises(migrate.MigrationError, match="unknown to this version"):
        migrate.pending(empty_db)


def test_failed_migration_leaves_nothing(empty_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    good = migrate.available()
    broken = migrate.Migration(9998, "broken", "CREATE TABLE half (x int); SELECT 1/0;")
    monkeypatch.setattr(migrate, "available", lambda: [*good, broken])
    with pytest.raises(psycopg.errors.DivisionByZero):
        migrate.apply(empty_db)
    assert tables(empty_db) == set()  # one transaction: not even the first files stayed


def test_cli(empty_db: str) -> None:
    env = {**os.environ, "BRAIN_DATABASE_URL": empty_db, "BRAIN_LOG_FORMAT": "console"}
    brain = [sys.executable, "-m", "brain"]
    first = subprocess.run(
        [*brain, "migrate"], env=env, capture_output=True, text=True, cwd=repo_root()
    )
    assert first.returncode == 0, first.stderr
    assert f"applied {len(migrate.available())} migration" in first.stderr
    again = subprocess.run(
        [*brain, "migrate"], env=env, capture_output=True, text=True, cwd=repo_root()
    )
    assert again.returncode == 0
    assert "schema is up to date" in again.stderr


def test_serve_refuses_an_unmigrated_database(empty_db: str, redis_url: str) -> None:
    env = {
        **os.environ, "BRAIN_DATABASE_URL": empty_db, "BRAIN_REDIS_URL": redis_url,
        "BRAIN_ADMIN_TOKEN": "t",
    }  # fmt: skip
    port = str(embedded.free_port())
    result = subprocess.run(
        [sys.executable, "-m", "brain", "serve", "--port", port], env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "brain migrate" in result.stderr


def test_cleanup_cli(database_url: str, redis_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO memories (workspace, id, agent_id, context, expires_at) VALUES"
            " ('default', gen_random_uuid(), 'a', '{}', now() - interval '1 second'),"
            " ('default', gen_random_uuid(), 'a', '{}', now() + interval '1 hour'),"
            " ('default', gen_random_uuid(), 'a', '{}', NULL)"
        )
    env = {
        **os.environ, "BRAIN_DATABASE_URL": database_url, "BRAIN_REDIS_URL": redis_url,
        "BRAIN_ADMIN_TOKEN": "t", "BRAIN_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    gens = keys.generations("default")
    with redis.Redis.from_url(redis_url) as r:
        r.hset(gens, "epoch", 7)
    result = subprocess.run(
        [sys.executable, "-m", "brain", "cleanup"], env=env, capture_output=True, text=True,
        cwd=repo_root(), timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "workspaces": 1,
        "expired_memories_deleted": 1,
        "messages_trimmed": 0,
        "messages_pruned": 0,
    }
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM memories").fetchone() == (2,)
    with redis.Redis.from_url(redis_url) as r:  # a cron job must not retire the whole cache
        assert r.hget(gens, "epoch") == b"7"


def test_migration_repairs_expiries_stored_before_the_bound(
    empty_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A memory stored by an earlier version with an expiry in the year 10000 made every page
    that held it a 500; migration 0003 brings it back into range and keeps others out."""
    shipped = migrate.available()
    monkeypatch.setattr(migrate, "available", lambda: [m for m in shipped if m.version < 3])
    migrate.apply(empty_db)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO memories (workspace, id, agent_id, context, expires_at) VALUES"
            " ('default', gen_random_uuid(), 'a', '{}', %s)",
            ("9999-12-31T23:59:59-14:00",),
        )
    monkeypatch.setattr(migrate, "available", lambda: shipped)
    migrate.apply(empty_db)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        row = conn.execute("SELECT expires_at::text FROM memories").fetchone()
        assert row == ("9999-12-31 23:59:59.999999+00",)
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE memories SET expires_at = %s", ("9999-12-31T23:59:59-14:00",))


async def test_upgrading_keeps_a_single_workspace_brain_in_default(
    empty_db: str, redis_url: str
) -> None:
    """A Brain from before workspaces (migrations 1-3) with data: `brain migrate` is all it
    takes; its data is in `default`, where the admin token works, and reachable by a key."""
    from litestar.testing import AsyncTestClient

    from brain import app
    from tests.support import api

    before = [m for m in migrate.available() if m.version < 4]
    with psycopg.connect(empty_db) as conn, conn.transaction():
        conn.execute(migrate._BOOKKEEPING)
        for mig in before:
            conn.execute(mig.sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (mig.version, mig.name, mig.checksum),
            )
        conn.execute("INSERT INTO agents (workspace, id) VALUES ('default', 'sales')")
        conn.execute(
            "INSERT INTO memories (workspace, id, agent_id, context) "
            "VALUES ('default', gen_random_uuid(), 'sales', '{\"note\": \"kept\"}')"
        )
    assert [m.version for m in migrate.apply(empty_db)] == [
        m.version for m in migrate.available() if m.version >= 4
    ]
    async with AsyncTestClient(app=app.create_app(api.settings(empty_db, redis_url))) as client:
        client.headers.update(api.AUTH)
        found = await client.post("/v1/memories/query", json={})
        assert [m["context"]["note"] for m in found.json()["items"]] == ["kept"]
        assert [w["id"] for w in (await client.get("/v1/workspaces")).json()["items"]] == [
            "default"
        ]
        made = await client.post(
            "/v1/workspaces/default/keys", json={"name": "k", "scopes": ["agents:read"]}
        )
        secret = made.json()["secret"]
        agents = await client.get("/v1/agents", headers={"Authorization": f"Bearer {secret}"})
        assert [a["id"] for a in agents.json()["items"]] == ["sales"]


def test_the_vector_index_is_built_and_a_broken_build_rebuilt(empty_db: str) -> None:
    """`brain migrate`'s index of the configured space: built if missing, left alone if valid,
    and dropped and built again if a build failed half-way (CONCURRENTLY leaves it invalid)."""
    migrate.apply(empty_db)
    space = embeddings.space("bench-model", 8)
    name, statement = embeddings.index_name(space), embeddings.index_statement(space, 8)
    assert statement is not None and not migrate.index_exists(empty_db, name)
    migrate.ensure_index(empty_db, statement)
    assert migrate.index_exists(empty_db, name)
    with psycopg.connect(empty_db, autocommit=True) as conn:  # as a failed build leaves it
        conn.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass", (name,)
        )
    assert not migrate.index_exists(empty_db, name)
    migrate.ensure_index(empty_db, statement)
    assert migrate.index_exists(empty_db, name)
