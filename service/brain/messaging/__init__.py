"""Messages between agents: committed in PostgreSQL (the outbox), delivered through Redis
streams, at least once, until acknowledged."""

from __future__ import annotations

from brain.kit import registry
from brain.kit.areas import Area, Resources
from brain.messaging import routes
from brain.messaging.relay import Relay
from brain.messaging.service import MessageService
from brain.messaging.streams import Streams


def build(resources: Resources) -> MessageService:
    settings = resources.settings
    streams = None
    if resources.redis is not None and resources.blocking is not None:
        streams = Streams(
            resources.redis, resources.blocking, settings.visibility_timeout_seconds * 1000,
            settings.message_retention_seconds * 1000,
        )  # fmt: skip
    relay = None
    if streams is not None and resources.run_relay:
        relay = Relay(resources.db, streams, registry.DEFAULT, settings.message_retention_seconds)
    return MessageService(
        resources.db, streams, settings.max_context_bytes, settings.message_history_seconds,
        resources.cursors, relay,
    )  # fmt: skip


AREA = Area("messages", routes.router, build)
