"""Workspaces and API keys for the tests, made through the API as a user would."""

from __future__ import annotations

from typing import Any

from tests.support.api import AUTH

ALL_SCOPES = [
    "memories:read", "memories:write", "messages:read", "messages:write", "agents:read",
    "agents:write", "admin",
]  # fmt: skip


async def workspace(client: Any, workspace_id: str) -> None:
    """Create a workspace with the admin token (any HTTP client with httpx's interface)."""
    response = await client.post("/v1/workspaces", json={"id": workspace_id}, headers=AUTH)
    assert response.status_code == 201, response.text


async def key(
    client: Any, workspace_id: str, scopes: list[str] | None = None, **fields: Any
) -> dict[str, Any]:
    """A new key of the workspace (its answer, with `secret`) made with the admin token."""
    body = {"name": fields.pop("name", "test key"), "scopes": scopes or ALL_SCOPES, **fields}
    response = await client.post(f"/v1/workspaces/{workspace_id}/keys", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def bearer(made: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {made['secret']}"}
