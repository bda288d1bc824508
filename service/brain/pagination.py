"""Opaque keyset cursors: the sort key of the last row, bound to the query that produced it."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid

import msgspec

from brain import errors


class Position(msgspec.Struct, array_like=True, frozen=True):
    """Where the next page starts: after (importance?, created_at, id) in the query's order."""

    scope: str
    created_at: dt.datetime
    id: uuid.UUID
    importance: float | None = None


_decoder = msgspec.json.Decoder(Position)


def encode(position: Position) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(position)).rstrip(b"=").decode()


def decode(cursor: str, scope: str) -> Position:
    """The position in `cursor`; 422 naming `cursor` if it is damaged or from another query."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = _decoder.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise errors.Invalid("cursor is not one this service issued", field="cursor") from None
    if position.scope != scope:
        raise errors.Invalid("cursor belongs to a different query or order", field="cursor")
    if position.created_at.tzinfo is None:
        raise errors.Invalid("cursor is not one this service issued", field="cursor")
    return position
