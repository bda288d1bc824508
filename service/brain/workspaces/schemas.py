"""Request and response bodies of workspaces and their API keys."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from brain.kit import fields

Scope = Literal[
    "memories:read", "memories:write", "messages:read", "messages:write", "agents:read",
    "agents:write", "admin",
]  # fmt: skip
MAX_KEY_NAME_CHARS = 100
MAX_KEYS = 1000
"""Live (not revoked) keys per workspace."""
MAX_RATE_PER_SECOND = 100_000.0
MAX_BURST = 100_000


class WorkspaceIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new workspace: its id follows the agent id rules; `name` defaults to the id."""

    id: fields.AgentId
    name: fields.Label | None = None

    example: ClassVar[dict[str, Any]] = {"id": "acme", "name": "Acme support team"}


class Workspace(msgspec.Struct):
    id: str
    name: str
    created_at: fields.Timestamp

    example: ClassVar[dict[str, Any]] = {
        **WorkspaceIn.example,
        "created_at": "2026-12-01T09:00:00+00:00",
    }


class WorkspacePage(msgspec.Struct):
    """Workspaces by id; pass `next_cursor` back as `cursor` for the next page (null: the last)."""

    items: list[Workspace]
    next_cursor: str | None

    example: ClassVar[dict[str, Any]] = {"items": [Workspace.example], "next_cursor": None}


class RateLimit(msgspec.Struct, forbid_unknown_fields=True):
    """A token bucket: `burst` requests at once, refilled at `per_second`."""

    per_second: Annotated[float, msgspec.Meta(gt=0, le=MAX_RATE_PER_SECOND)]
    burst: Annotated[int, msgspec.Meta(ge=1, le=MAX_BURST)]


class KeyIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new API key of the workspace: what it may do (`scopes`), as which agent (`agent_id`:
    it then acts as that agent only), until when, and how fast."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_KEY_NAME_CHARS)]
    scopes: Annotated[list[Scope], msgspec.Meta(min_length=1, max_length=7)]
    agent_id: fields.AgentId | None = None
    expires_at: fields.Timestamp | None = None
    rate_limit: RateLimit | None = None

    example: ClassVar[dict[str, Any]] = {
        "name": "sales agent",
        "scopes": ["memories:read", "memories:write", "messages:read", "messages:write"],
        "agent_id": "sales",
        "expires_at": "2027-12-01T00:00:00+00:00",
        "rate_limit": {"per_second": 50, "burst": 100},
    }


class KeyFields(msgspec.Struct):
    """What a key's answers all hold."""

    id: uuid.UUID
    name: str
    scopes: list[str]
    agent_id: str | None
    prefix: str
    created_at: fields.Timestamp
    expires_at: fields.Timestamp | None
    rate_limit: RateLimit | None


class Key(KeyFields):
    """An API key, as listed (never its secret)."""

    last_used_at: fields.Timestamp | None

    example: ClassVar[dict[str, Any]] = {
        "id": "0b6c1d5e-8a4f-4c1e-9f0a-2d3b4c5d6e7f",
        **KeyIn.example,
        "prefix": "brk_acme_Xk3f9Q",
        "created_at": "2026-12-01T09:00:00+00:00",
        "last_used_at": None,
    }


class NewKey(KeyFields):
    """A new API key with its secret: shown this once, stored only as a hash."""

    secret: str

    example: ClassVar[dict[str, Any]] = {
        **{k: v for k, v in Key.example.items() if k != "last_used_at"},
        "secret": "brk_acme_Xk3f9QpL2mN8vR4tY6wZ1aB3cD5eF7gH9jK0lM2n",
    }


class KeyList(msgspec.Struct):
    items: list[Key]

    example: ClassVar[dict[str, Any]] = {"items": [Key.example]}
