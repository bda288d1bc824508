"""Prometheus metrics (prefix `brain_`), exposed at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CACHE_REQUESTS = Counter(
    "brain_cache_requests", "Cache lookups by result (hit, miss, bypass).", ["result"]
)
MEMORIES_WRITTEN = Counter("brain_memories_written", "Memories stored (committed).")
DEPENDENCY_UP = Gauge(
    "brain_dependency_up", "1 when the dependency answered its last check.", ["dependency"]
)
REDIS_OUTAGES = Counter("brain_redis_outages", "Times the service saw Redis become unreachable.")
MESSAGES_PUBLISHED = Counter(
    "brain_messages_published", "Messages committed, by kind and priority.", ["kind", "priority"]
)
MESSAGES_ACKED = Counter("brain_messages_acked", "Deliveries acknowledged (newly).")
MESSAGES_REDELIVERED = Counter(
    "brain_messages_redelivered", "Deliveries handed out again (lease expired or Redis lost data)."
)
OUTBOX_BACKLOG = Gauge("brain_outbox_backlog", "Deliveries committed but not yet on a stream.")
RELAY_APPENDED = Counter(
    "brain_relay_appended", "Deliveries the relay appended (the share path could not)."
)
