"""Workspace and API key rules: the registry, keys shown once, erasure of a whole workspace."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import msgspec

from brain.kit import areas, audit, auth, db, errors, fields, pagination, registry
from brain.workspaces import repository
from brain.workspaces.schemas import MAX_KEYS, KeyIn, WorkspaceIn

ERASE_TIMEOUT_S = 300
"""How long each statement of a workspace's erase may run (as for `POST /v1/admin/clear`)."""
SECOND_PASS_S = auth.KEY_CACHE_SECONDS + 0.5
"""After erasing, the erase runs again once this has passed: a request another replica admitted
with a key of the workspace just before (its cache holds a key for up to 0.5 s) may have written
meanwhile."""


class WorkspaceService:
    def __init__(
        self,
        database: db.Database,
        data: Sequence[areas.WorkspaceData],
        authenticator: auth.Authenticator,
        home: str,
    ) -> None:
        self.db = database
        self.data = data  # the areas' data, in the app's order (filled as the areas are built)
        self.auth = authenticator
        self.home = home

    # -- the registry (admin token) ---------------------------------------------------------------

    async def create(self, data: WorkspaceIn) -> bytes:
        body = await registry.create(self.db, data.id, fields.label(data.name, "name") or data.id)
        if body is None:
            if await registry.count(self.db) >= registry.MAX_WORKSPACES:
                raise errors.Conflict(
                    f"there are {registry.MAX_WORKSPACES} workspaces already, the most one "
                    "Brain holds"
                )
            raise errors.Conflict(f"workspace {data.id} exists already", field="id")
        await audit.write(self.db, self.home, "workspace.created", None, data.id)
        return body.encode()

    async def list(self, limit: int, cursor: str | None) -> bytes:
        if cursor is not None:
            fields.agent_id(cursor, field="cursor")
        rows = await registry.page(self.db, cursor, limit + 1)
        return pagination.page(rows, limit, lambda row: str(row["id"]))[0]

    async def delete(self, workspace: str, confirm: str | None) -> None:
        """Erase every row, cache entry, stream and key of the workspace, then the workspace."""
        fields.agent_id(workspace, field="workspace_id")
        if workspace == self.home:
            raise errors.Invalid(
                f"the {self.home} workspace stays: erase its data with POST /v1/admin/clear",
                field="workspace_id",
            )
        if confirm != workspace:
            raise errors.Invalid(
                "confirm must repeat the workspace id: deleting a workspace erases all its data",
                field="confirm",
            )
        if not await self.auth.known.exists(workspace):
            raise errors.NotFound(f"workspace {workspace} does not exist")
        await self._erase(workspace)
        self.auth.forget_workspace(workspace)
        await asyncio.sleep(SECOND_PASS_S)
        await self._erase(workspace)
        self.auth.forget_workspace(workspace)
        await audit.write(self.db, self.home, "workspace.deleted", None, workspace)

    async def _erase(self, workspace: str) -> None:
        async with self.db.transaction(
            workspace=workspace, statement_seconds=ERASE_TIMEOUT_S
        ) as conn:
            after = await areas.erase(conn, list(self.data), workspace)
            await repository.delete_keys(conn, workspace)
            await audit.forget_all(conn, workspace)
            await registry.delete(conn, workspace)
        for done in after:
            await done()

    # -- keys (admin token, or a key of the workspace with scope admin) ---------------------------

    async def create_key(self, who: auth.Principal, workspace: str, data: KeyIn) -> bytes:
        secret, prefix, key_digest = auth.new_secret(workspace)
        scopes = list(dict.fromkeys(data.scopes))
        if data.expires_at is not None:
            fields.expiry(data.expires_at, "expires_at")
        rate = data.rate_limit
        params = {
            "workspace": workspace, "name": data.name, "digest": key_digest, "prefix": prefix,
            "scopes": scopes, "agent_id": data.agent_id, "expires_at": data.expires_at,
            "per_second": rate.per_second if rate else None, "burst": rate.burst if rate else None,
            "max": MAX_KEYS,
        }  # fmt: skip
        async with self.db.transaction(workspace=workspace) as conn:
            row = await repository.insert_key(conn, params)
            if row is None:
                raise errors.Conflict(
                    f"workspace {workspace} holds {MAX_KEYS} live keys, the most it may: revoke "
                    "one first"
                )
            detail = {"name": data.name, "scopes": scopes, "agent_id": data.agent_id}
            await audit.record(conn, workspace, "key.created", who.key_id, str(row["id"]), detail)
        shown = msgspec.json.decode(row["body"])
        shown.pop("last_used_at", None)
        shown["secret"] = secret
        return msgspec.json.encode(shown)

    async def list_keys(self, workspace: str) -> bytes:
        rows = await repository.list_keys(self.db, workspace)
        return b'{"items":[' + ",".join(rows).encode() + b"]}"

    async def revoke_key(self, who: auth.Principal, workspace: str, key_id: uuid.UUID) -> None:
        async with self.db.transaction(workspace=workspace) as conn:
            if not await repository.revoke_key(conn, workspace, key_id):
                raise errors.NotFound(f"key {key_id} does not exist or is revoked already")
            await audit.record(conn, workspace, "key.revoked", who.key_id, str(key_id))
        self.auth.keys.forget(workspace, key_id)
