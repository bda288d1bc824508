"""Request body of the agent registry."""

from __future__ import annotations

from typing import Annotated

import msgspec

from brain import fields

Label = Annotated[str, msgspec.Meta(max_length=200, pattern=fields.NO_NUL)]
Capabilities = Annotated[
    list[
        Annotated[
            str, msgspec.Meta(min_length=1, max_length=fields.MAX_TAG_CHARS, pattern=fields.NO_NUL)
        ]
    ],
    msgspec.Meta(max_length=64),
]


class AgentIn(msgspec.Struct, forbid_unknown_fields=True):
    """A registration; PUT replaces name, role, capabilities and metadata as a whole."""

    name: Label | None = None
    role: Label | None = None
    capabilities: Capabilities = []
    metadata: fields.Context = {}
