"""Stats, cleanup and clear of a workspace: the data of every area, through
`kit.areas.WorkspaceData` (admin imports no other area)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from brain.kit import areas, cache, db, idempotency

ERASE_TIMEOUT_S = 300
"""How long each statement of a workspace's erase (`POST /v1/admin/clear`) may run: one DELETE of
every row of a table, far longer than a request's statement (`db.STATEMENT_TIMEOUT_S`)."""


class AdminService:
    def __init__(
        self, database: db.Database, memo: cache.Cache, data: Sequence[areas.WorkspaceData]
    ) -> None:
        self.db = database
        self.cache = memo
        self.data = list(data)

    async def stats(self, workspace: str) -> dict[str, Any]:
        """Each area's counts, then the cache's hits and misses across every process."""
        figures = {part.key: await part.counts(workspace) for part in self.data}
        counts = await self.cache.counts(workspace)
        hits, misses = (counts["hits"], counts["misses"]) if counts else (None, None)
        lookups = (hits or 0) + (misses or 0)
        figures["cache"] = {
            "available": counts is not None,
            "hits": hits,
            "misses": misses,
            "hit_rate": round(hits / lookups, 4) if hits is not None and lookups else None,
        }
        return figures

    async def cleanup(self, workspace: str) -> dict[str, int]:
        """What each area deletes once expired (memories; stream entries past the retention and
        history past its window), then day-old idempotency keys."""
        deleted: dict[str, int] = {}
        for part in self.data:
            deleted.update(await part.cleanup(workspace))
        async with self.db.connection(write=True) as conn:
            await idempotency.forget_older_than(conn, workspace)
        return deleted

    async def clear(self, workspace: str) -> None:
        """Delete all the data of the workspace and its idempotency keys in one transaction,
        then what each area keeps outside PostgreSQL (cache entries, delivery streams)."""
        after = []
        async with self.db.transaction(statement_seconds=ERASE_TIMEOUT_S) as conn:
            for part in reversed(self.data):
                done = await part.erase(conn, workspace)
                if done is not None:
                    after.append(done)
            await idempotency.forget_all(conn, workspace)
        for done in after:
            await done()
