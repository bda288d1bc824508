"""Databases of the session's PostgreSQL for one test each."""

from __future__ import annotations

import itertools

import psycopg
from psycopg import sql

from brain import embedded

_numbers = itertools.count()


def fresh(pg: embedded.Postgres) -> str:
    """The name of a new database cloned from the migrated template."""
    name = f"test_{next(_numbers)}"
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE brain").format(sql.Identifier(name)))
    return name
