"""Share a message through the real service code, then die (kill -9) right after the commit,
before the append to Redis: the crash point is injected here, not in production code."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from brain.kit import db, pagination
from brain.messaging.schemas import ShareIn
from brain.messaging.service import MessageService


async def main(database_url: str) -> None:
    pool = db.pool(database_url, min_size=1, max_size=1, name="crash")
    await pool.open(wait=True)

    async def crash(*_: object) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    cursors = pagination.Cursors(b"secret")
    service = MessageService(db.Database(pool), None, 65536, 86400, cursors)
    service.append_after_commit = crash  # type: ignore[method-assign]
    share = ShareIn(from_agent="a", to_agent="b", context={"crash": "after commit"})
    await service.share("default", share, None)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
