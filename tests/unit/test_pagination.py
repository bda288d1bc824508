"""Cursors: exact round trips, bound to their query, and only as this service issued them."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import msgspec
import pytest

from brain.kit import errors, pagination

CURSORS = pagination.Cursors(b"secret")
SCOPE = pagination.scope("memories", "default", "recent")


def position(importance: float | None = None) -> pagination.Position:
    return pagination.Position(
        dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        importance,
    )


@pytest.mark.parametrize("importance", [None, 0.0, 0.30000000000000004, 1.0])
def test_round_trip_is_exact(importance: float | None) -> None:
    p = position(importance)
    cursor = CURSORS.encode(SCOPE, p)
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor  # URL-safe
    assert CURSORS.decode(cursor, SCOPE, pagination.Position) == p


def test_seq_round_trip() -> None:
    cursor = CURSORS.encode(SCOPE, pagination.Seq(2**63 - 1))
    assert CURSORS.decode(cursor, SCOPE, pagination.Seq) == pagination.Seq(2**63 - 1)


def test_other_scope_is_rejected() -> None:
    cursor = CURSORS.encode(SCOPE, position())
    with pytest.raises(errors.Invalid) as caught:
        CURSORS.decode(
            cursor, pagination.scope("memories", "default", "importance"), pagination.Position
        )
    assert caught.value.field == "cursor"


def test_other_secret_is_rejected() -> None:
    """A cursor of another deployment (or one signed before the admin token changed)."""
    cursor = pagination.Cursors(b"other").encode(SCOPE, position())
    with pytest.raises(errors.Invalid, match="not one this service issued"):
        CURSORS.decode(cursor, SCOPE, pagination.Position)


def _raw(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_edited_position_is_rejected() -> None:
    """Editing the position (or adding fields to it) breaks the signature, even where the
    result would decode: no crafted cursor reaches a row its query could not page to."""
    raw = _raw(CURSORS.encode(SCOPE, pagination.Seq(5)))
    payload, mac = raw[: -pagination.MAC_BYTES], raw[-pagination.MAC_BYTES :]
    for edited in (payload.replace(b"[5]", b"[4]"), payload.replace(b"[5]", b"[5,1]")):
        assert edited != payload
        with pytest.raises(errors.Invalid, match="not one this service issued"):
            CURSORS.decode(_cursor(edited + mac), SCOPE, pagination.Seq)


def test_cursor_of_another_kind_is_rejected() -> None:
    cursor = CURSORS.encode(SCOPE, pagination.Seq(5))
    with pytest.raises(errors.Invalid) as caught:
        CURSORS.decode(cursor, SCOPE, pagination.Position)
    assert caught.value.field == "cursor"


@pytest.mark.parametrize(
    "cursor", ["", "%%%", "bm90IGpzb24", "WzEsMiwzXQ", "W10", "9999999999999999999", "A" * 200]
)
def test_garbage_is_rejected(cursor: str) -> None:
    with pytest.raises(errors.Invalid) as caught:
        CURSORS.decode(cursor, SCOPE, pagination.Position)
    assert caught.value.field == "cursor"


def test_signed_garbage_cannot_crash_the_decoder() -> None:
    """Even a payload signed with the right key that is not what `encode` writes is a 422."""
    for payload in (b"[]", b'["x"]', b'{"a": 1}', msgspec.json.encode([SCOPE, "nope"])):
        cursor = _cursor(payload + CURSORS._mac(payload))
        with pytest.raises(errors.Invalid):
            CURSORS.decode(cursor, SCOPE, pagination.Position)


def test_served_stops_at_the_page_bytes() -> None:
    big = "x" * (pagination.MAX_PAGE_BYTES // 3)
    assert pagination.served(["a"] * 21, 20) == 20
    assert pagination.served([big] * 5, 4) == 3
    assert pagination.served(["x" * (pagination.MAX_PAGE_BYTES + 1)] * 2, 20) == 1
    assert pagination.served([], 20) == 0
