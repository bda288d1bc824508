from __future__ import annotations

import datetime as dt
import uuid

import pytest

from brain import errors, pagination


def position(**changes: object) -> pagination.Position:
    base = {
        "scope": "abc",
        "created_at": dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "importance": None,
    }
    return pagination.Position(**(base | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize("importance", [None, 0.0, 0.30000000000000004, 1.0])
def test_round_trip_is_exact(importance: float | None) -> None:
    p = position(importance=importance)
    cursor = pagination.encode(p)
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor  # URL-safe
    assert pagination.decode(cursor, "abc") == p


def test_other_scope_is_rejected() -> None:
    with pytest.raises(errors.Invalid) as caught:
        pagination.decode(pagination.encode(position()), "other")
    assert caught.value.field == "cursor"


@pytest.mark.parametrize("cursor", ["", "%%%", "bm90IGpzb24", "WzEsMiwzXQ", "W10"])
def test_garbage_is_rejected(cursor: str) -> None:
    with pytest.raises(errors.Invalid) as caught:
        pagination.decode(cursor, "abc")
    assert caught.value.field == "cursor"


def test_naive_timestamp_is_rejected() -> None:
    naive = position(created_at=dt.datetime(2026, 1, 1))
    with pytest.raises(errors.Invalid):
        pagination.decode(pagination.encode(naive), "abc")
