"""Opaque keyset cursors: where the next page starts, bound to the query that produced it.

A cursor is the position (the sort key of the last row served) with the query's scope (a digest
of the workspace, the route and every filter), signed with a key only the service knows. A cursor
that was edited, crafted, or issued for another query, agent pair or workspace is a 422 naming
`cursor`: no cursor can reach a row that the query it came from could not page to.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec

from brain.kit import errors, http

MAC_BYTES = 16
MAX_PAGE_BYTES = 4 * 1024 * 1024
"""A page stops early (with a `next_cursor`) once its items reach this many bytes of JSON."""


class Position(msgspec.Struct, array_like=True, frozen=True, forbid_unknown_fields=True):
    """After (importance?, created_at, id) in a memory query's order."""

    created_at: dt.datetime
    id: uuid.UUID
    importance: float | None = None


class Ranked(msgspec.Struct, array_like=True, frozen=True, forbid_unknown_fields=True):
    """After (key, id) in a ranked memory query's order: key = distance (by meaning) or minus the
    fused score (hybrid), ascending."""

    key: float
    id: uuid.UUID


class Seq(msgspec.Struct, array_like=True, frozen=True, forbid_unknown_fields=True):
    """After a message's sequence number (history: older; replay: newer)."""

    seq: int


P = TypeVar("P", Position, Ranked, Seq)


class _Signed(msgspec.Struct, array_like=True, frozen=True, forbid_unknown_fields=True):
    scope: str
    position: msgspec.Raw


Row = dict[str, Any]


def page(
    rows: Sequence[Row],
    limit: int,
    cursor_after: Callable[[Row], str],
    bodies: Sequence[str] | None = None,
) -> tuple[bytes, Sequence[Row]]:
    """A page's `{items, next_cursor}` from the `limit + 1` rows fetched for it (one more than
    the page tells whether another follows), and the rows it serves. `bodies`: each row's JSON
    (default: its `body`); the cursor is `cursor_after` the last row served."""
    items = [str(r["body"]) for r in rows] if bodies is None else list(bodies)
    count = served(items, limit)
    cursor = cursor_after(rows[count - 1]) if count < len(rows) else None
    return http.page_body(items[:count], cursor), rows[:count]


def served(bodies: Sequence[str], limit: int) -> int:
    """How many of the `limit + 1` rows fetched for a page it serves: `limit`, or fewer once
    their JSON reaches MAX_PAGE_BYTES (always at least one). Fewer than fetched: a next page."""
    count, size = 0, 0
    for body in bodies[:limit]:
        size += len(body)
        if count and size > MAX_PAGE_BYTES:
            break
        count += 1
    return count


def scope(*parts: object) -> str:
    """A short digest of what a cursor is bound to."""
    return hashlib.blake2b(msgspec.json.encode(parts), digest_size=12).hexdigest()


class Cursors:
    """Issues and checks cursors with one secret (every replica must share it)."""

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.blake2b(secret, person=b"brain-cursor", digest_size=32).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.digest(self._key, payload, "sha256")[:MAC_BYTES]

    def encode(self, scope: str, position: Position | Ranked | Seq) -> str:
        payload = msgspec.json.encode(_Signed(scope, msgspec.Raw(msgspec.json.encode(position))))
        raw = payload + self._mac(payload)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def decode(self, cursor: str, scope: str, kind: type[P]) -> P:
        """The position in `cursor`; 422 naming `cursor` unless this service issued it for
        this very query."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise _foreign() from None
        payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
        if len(raw) <= MAC_BYTES or not hmac.compare_digest(mac, self._mac(payload)):
            raise _foreign()
        try:  # signed here, so written by `encode`: anything else is a bug, still not a 500
            signed = msgspec.json.decode(payload, type=_Signed)
            position = msgspec.json.decode(signed.position, type=kind)
        except msgspec.DecodeError:  # or issued for another kind of page
            raise _foreign() from None
        if signed.scope != scope:
            raise errors.Invalid(
                "cursor belongs to a different query: send the same filters as the page it came "
                "from",
                field="cursor",
            )
        return position


def _foreign() -> errors.Invalid:
    return errors.Invalid("cursor is not one this service issued", field="cursor")
