"""Memories: context records with tags, importance and expiry."""

from __future__ import annotations

from brain.kit import embeddings
from brain.kit.areas import Area, Resources
from brain.memory import routes
from brain.memory.service import MemoryService


def build(resources: Resources) -> MemoryService:
    settings = resources.settings
    embedder = embeddings.from_settings(settings)
    return MemoryService(
        resources.db, resources.cache, settings.max_context_bytes, resources.cursors, embedder
    )


AREA = Area("memories", routes.router, build)
