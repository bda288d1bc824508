"""Named SQL blocks and the query plan that feeds them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from brain.agents import repository as agents_repo
from brain.kit import db, errors, pagination
from brain.memory import repository as memories_repo
from brain.memory.schemas import QueryIn
from brain.memory.service import QueryPlan

CURSORS = pagination.Cursors(b"secret")


def test_load_queries(tmp_path: Path) -> None:
    path = tmp_path / "q.sql"
    path.write_text("-- header comment\n\n-- name: one\nSELECT 1\n\n-- name: two_b\nSELECT\n  2\n")
    assert db.load_queries(path) == {"one": "SELECT 1", "two_b": "SELECT\n  2"}


@pytest.mark.parametrize("text", ["SELECT 1", "-- name: a\nSELECT 1\n-- name: a\nSELECT 2"])
def test_load_queries_refuses(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.sql"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"bad\.sql"):
        db.load_queries(path)


def test_shipped_queries_are_parameterised() -> None:
    for queries in (memories_repo.SQL, agents_repo.SQL):
        for name, sql in queries.items():
            assert sql.strip(), name
            assert "{" not in sql, f"{name}: looks like string formatting"


def test_plan_normalises_equivalent_queries() -> None:
    a = QueryPlan(QueryIn(agent_ids=["b", "a", "b"], tags=["y", "x"]), "default", CURSORS)
    b = QueryPlan(QueryIn(agent_ids=["a", "b"], tags=["x", "y", "x"]), "default", CURSORS)
    assert a.digest == b.digest and a.scope == b.scope
    assert a.params["agent_ids"] == ["a", "b"]
    assert a.params["tags_any"] == ["x", "y"] and a.params["tags_all"] is None
    assert a.params["limit"] == 21  # one more than the page, to know if another follows


def test_plan_tells_different_queries_apart() -> None:
    plans = [
        QueryIn(), QueryIn(order="importance"), QueryIn(agent_id="a"), QueryIn(tags=["x"]),
        QueryIn(tags=["x"], match="all"), QueryIn(min_importance=0.5), QueryIn(text="x"),
        QueryIn(since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)), QueryIn(limit=5),
    ]  # fmt: skip
    digests = {QueryPlan(q, "default", CURSORS).digest for q in plans}
    assert len(digests) == len(plans)
    # The page size is not part of the cursor's scope: a client may change it between pages.
    assert (
        QueryPlan(QueryIn(limit=5), "d", CURSORS).scope == QueryPlan(QueryIn(), "d", CURSORS).scope
    )


def test_plan_rejects_contradictions() -> None:
    with pytest.raises(errors.Invalid) as caught:
        QueryPlan(QueryIn(agent_id="a", agent_ids=["b"]), "default", CURSORS)
    assert caught.value.field == "agent_ids"
    t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(errors.Invalid) as caught:
        QueryPlan(QueryIn(since=t, until=t), "default", CURSORS)
    assert caught.value.field == "until"
