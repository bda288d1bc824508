"""Stats, cleanup and clear of a workspace: the data of every area, through
`kit.areas.WorkspaceData` (admin imports no other area)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from brain.kit import areas, audit, cache, db, idempotency, pagination

ERASE_TIMEOUT_S = 300
"""How long each statement of a workspace's erase (`POST /v1/admin/clear`) may run: one DELETE of
every row of a table, far longer than a request's statement (`db.STATEMENT_TIMEOUT_S`)."""


class AdminService:
    def __init__(
        self,
        database: db.Database,
        memo: cache.Cache,
        data: Sequence[areas.WorkspaceData],
        cursors: pagination.Cursors,
    ) -> None:
        self.db = database
        self.cache = memo
        self.data = list(data)
        self.cursors = cursors

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
        history past its window), then day-old idempotency keys (`brain cleanup`: not audited,
        it runs every few minutes in every workspace)."""
        deleted: dict[str, int] = {}
        for part in self.data:
            deleted.update(await part.cleanup(workspace))
        async with self.db.connection(workspace=workspace, write=True) as conn:
            await idempotency.forget_older_than(conn, workspace)
        return deleted

    async def audited_cleanup(self, workspace: str, key_id: uuid.UUID | None) -> dict[str, int]:
        """`cleanup` for `POST /v1/admin/cleanup`, recorded in the audit log."""
        deleted = await self.cleanup(workspace)
        await audit.write(self.db, workspace, "cleanup", key_id, None, deleted)
        return deleted

    async def clear(self, workspace: str, key_id: uuid.UUID | None = None) -> None:
        """Delete all the data of the workspace and its idempotency keys in one transaction
        (with its audit entry), then what each area keeps outside PostgreSQL (cache entries,
        delivery streams). Its API keys and audit log stay."""
        async with self.db.transaction(
            workspace=workspace, statement_seconds=ERASE_TIMEOUT_S
        ) as conn:
            after = await areas.erase(conn, self.data, workspace)
            await audit.record(conn, workspace, "clear", key_id)
        for done in after:
            await done()

    async def audit(self, workspace: str, limit: int, cursor: str | None) -> bytes:
        """The audit log, newest first, a page at a time."""
        scope = pagination.scope("audit", workspace)
        before = None if cursor is None else self.cursors.decode(cursor, scope, pagination.Seq).seq
        rows = await audit.page(self.db, workspace, before, limit + 1)

        def after(row: dict[str, object]) -> str:
            return self.cursors.encode(scope, pagination.Seq(int(str(row["id"]))))

        return pagination.page(rows, limit, after)[0]
