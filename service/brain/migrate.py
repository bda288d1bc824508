"""Versioned SQL migrations: ordered files, each applied once, all in one transaction."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from importlib import resources
from typing import Any, cast

import psycopg

log = logging.getLogger("brain.migrate")

_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x627261696E  # "brain": serialises concurrent `brain migrate` runs

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(Exception):
    """The database's migration history does not match the files shipped."""


def available() -> list[Migration]:
    """The migration files shipped with this version, in order."""
    found = []
    for entry in resources.files("brain.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match["version"]), match["name"], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version: {versions}")
    return found


def _applied(conn: psycopg.Connection[tuple[object, ...]]) -> dict[int, str]:
    rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
    return {int(cast(int, v)): str(c) for v, c in rows}


def _check_history(applied: dict[int, str], shipped: list[Migration]) -> None:
    by_version = {m.version: m for m in shipped}
    for version, checksum in applied.items():
        mig = by_version.get(version)
        if mig is None:
            raise MigrationError(f"database has migration {version}, unknown to this version")
        if mig.checksum != checksum:
            raise MigrationError(f"migration {version}_{mig.name} changed after it was applied")


def pending(conninfo: str) -> list[Migration]:
    """Migrations not yet applied (raises MigrationError on a diverged history)."""
    shipped = available()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        applied = _applied(conn) if exists and exists[0] else {}
    _check_history(applied, shipped)
    return [m for m in shipped if m.version not in applied]


def apply(conninfo: str) -> list[Migration]:
    """Apply the missing migrations in one transaction; return those applied (none: a no-op)."""
    shipped = available()
    with psycopg.connect(conninfo) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(_BOOKKEEPING)
        applied = _applied(conn)
        _check_history(applied, shipped)
        todo = [m for m in shipped if m.version not in applied]
        for mig in todo:
            log.info("applying migration %04d_%s", mig.version, mig.name)
            conn.execute(mig.sql)  # a file of the package: literal, never input
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (mig.version, mig.name, mig.checksum),
            )
    return todo


LEAKPROOF = ("arrayoverlap", "arraycontains", "ts_match_vq")
"""The functions of tag and full-text filters, which must be LEAKPROOF for their GIN indexes to
serve queries under row-level security (migration 0004)."""


def not_leakproof(conninfo: str) -> list[str]:
    """Those of LEAKPROOF that are not (a superuser must declare them: migration 0004)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT proname FROM pg_proc WHERE proname = ANY (%s) AND NOT proleakproof",
            (list(LEAKPROOF),),
        ).fetchall()
    return sorted({str(name) for (name,) in rows})


def _index_valid(conn: psycopg.Connection[Any], name: str) -> bool | None:
    """Whether the index `name` is valid; None when there is none."""
    row = conn.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = %s",
        (name,),
    ).fetchone()
    return None if row is None else bool(row[0])


def ensure_index(conninfo: str, statement: str) -> None:
    """Create an index if it is missing (`CREATE INDEX CONCURRENTLY IF NOT EXISTS`: writes go on
    while it builds), as the owner. A build that failed half-way leaves an invalid index, which
    is dropped and built again."""
    name = statement.split(" IF NOT EXISTS ", 1)[1].split(" ", 1)[0]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if _index_valid(conn, name) is False:
            conn.execute(f"DROP INDEX CONCURRENTLY {name}")  # a name of kit.embeddings
        conn.execute(statement)  # built by kit.embeddings.index_statement: no input in it


def index_exists(conninfo: str, name: str) -> bool:
    """Whether a valid index `name` exists."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return _index_valid(conn, name) is True
