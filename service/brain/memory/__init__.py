"""Memories: context records with tags, importance and expiry."""

from __future__ import annotations

from brain.kit.areas import Area, Resources
from brain.memory import routes
from brain.memory.service import MemoryService


def build(resources: Resources) -> MemoryService:
    return MemoryService(
        resources.db, resources.cache, resources.settings.max_context_bytes, resources.cursors
    )


AREA = Area("memories", routes.router, build)
