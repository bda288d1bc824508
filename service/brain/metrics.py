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
