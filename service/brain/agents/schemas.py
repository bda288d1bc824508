"""Request and response bodies of the agent registry."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec

from brain.kit import fields

Capabilities = Annotated[
    list[fields.Tag],
    msgspec.Meta(
        max_length=fields.MAX_CAPABILITIES,
        description=f"at most {fields.MAX_CAPABILITIES} as sent; repeats are kept once",
    ),
]


class AgentIn(msgspec.Struct, forbid_unknown_fields=True):
    """A registration; PUT replaces name, role, capabilities and metadata as a whole."""

    name: fields.Label | None = None
    role: fields.Label | None = None
    capabilities: Capabilities = []
    metadata: fields.Context = {}

    example: ClassVar[dict[str, Any]] = {
        "name": "Sales agent",
        "role": "sales",
        "capabilities": ["crm", "email"],
        "metadata": {"region": "EMEA"},
    }


class Agent(msgspec.Struct):
    """A registered agent."""

    id: str
    name: str | None
    role: str | None
    capabilities: list[str]
    metadata: dict[str, Any]
    registered_at: fields.Timestamp
    last_seen_at: fields.Timestamp

    example: ClassVar[dict[str, Any]] = {
        "id": "sales",
        **AgentIn.example,
        "registered_at": "2026-11-02T08:00:00+00:00",
        "last_seen_at": "2026-12-01T09:30:00+00:00",
    }


class AgentPage(msgspec.Struct):
    """Agents by id; pass `next_cursor` back as `cursor` for the next page (null: the last)."""

    items: list[Agent]
    next_cursor: str | None

    example: ClassVar[dict[str, Any]] = {"items": [Agent.example], "next_cursor": None}
