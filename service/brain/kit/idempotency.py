"""G5: a write retried with the same `Idempotency-Key` creates one record and answers the same.

The key is claimed by an INSERT in the same transaction as the write: a concurrent retry waits on
that row, then finds the recorded answer; a write that fails rolls its claim back with it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from brain.kit import db, errors

HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 255
KEEP_SECONDS = 24 * 3600
"""Keys are remembered for a day (`brain cleanup` forgets older ones)."""

SQL = db.load_queries(Path(__file__).with_name("idempotency.sql"))


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    replayed: bool = False


def check_key(key: str | None) -> str | None:
    """Validate the header's value: 1-255 printable ASCII characters."""
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_CHARS or not key.isascii() or not key.isprintable():
        raise errors.Invalid(
            f"{HEADER} must be 1-{MAX_KEY_CHARS} printable ASCII characters", field=HEADER
        )
    return key


def fingerprint(route: str, body: msgspec.Struct, key: str | None) -> bytes:
    """What a retry must repeat: the route and the decoded body (b"" when there is no key)."""
    if key is None:
        return b""
    return hashlib.sha256(route.encode() + b"\0" + msgspec.json.encode(body)).digest()


async def run(
    database: db.Database,
    workspace: str,
    key: str | None,
    request_hash: bytes,
    write: Callable[[db.Conn], Awaitable[Answer]],
    *,
    single_statement: bool = False,
) -> Answer:
    """Perform `write` in a transaction, once per key; replay the first answer on a retry.

    Without a key, a `single_statement` write runs in autocommit: one round trip, no BEGIN and
    COMMIT around it, and just as atomic."""
    if key is None and single_statement:
        async with database.connection(workspace=workspace, write=True) as conn:
            return await write(conn)
    async with database.transaction(workspace=workspace) as conn:
        if key is None:
            return await write(conn)
        params = {"workspace": workspace, "key": key}
        cur = await conn.execute(SQL["claim"], {**params, "request_hash": request_hash})
        if await cur.fetchone() is not None:
            answer = await write(conn)
            await conn.execute(
                SQL["record"], {**params, "status": answer.status, "response": answer.body}
            )
            return answer
        cur = await conn.execute(SQL["previous"], params)
        row = await cur.fetchone()
    assert row is not None
    if bytes(row["request_hash"]) != request_hash:
        raise errors.Conflict(f"{HEADER} was already used with a different request", field=HEADER)
    return Answer(row["status"], bytes(row["response"]), replayed=True)


async def forget_older_than(conn: db.Conn, workspace: str, seconds: int = KEEP_SECONDS) -> None:
    """Forget the keys older than `seconds` (`brain cleanup`: a day)."""
    await conn.execute(SQL["forget_older_than"], {"workspace": workspace, "seconds": seconds})


async def forget_all(conn: db.Conn, workspace: str) -> None:
    await conn.execute(SQL["forget_all"], {"workspace": workspace})
