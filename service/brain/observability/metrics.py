"""Prometheus metrics (prefix `brain_`), exposed at /metrics.

Label values are bounded: routes are path templates ("/v1/memories/{memory_id}", or "unmatched"),
never raw paths, and no agent ids. With several worker processes `brain serve` sets
PROMETHEUS_MULTIPROC_DIR and every process writes its samples there; /metrics then aggregates
them (prometheus-client's multiprocess mode; gauges say how: sum, max or min across processes).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.openmetrics import exposition as openmetrics

_CHILDREN: dict[tuple[Any, tuple[str, ...]], Any] = {}


def labelled(metric: Any, *values: str) -> Any:
    """`metric.labels(*values)`, looked up once per process and label values (which are
    bounded): labels() validates, takes a lock and, in multiprocess mode, finds the value files
    on every call; on the request path that cost more than the request's own cache lookup."""
    key = (metric, values)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*values)
    return child


LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

HTTP_REQUESTS = Counter(
    "brain_http_requests", "HTTP requests answered.", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "brain_http_request_duration_seconds",
    "Time from request to response start, inside the service.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
CACHE_REQUESTS = Counter(
    "brain_cache_requests", "Cache lookups by result (hit, miss, bypass).", ["result"]
)
MEMORIES_WRITTEN = Counter("brain_memories_written", "Memories stored (committed).")
EMBEDDING_CALLS = Counter(
    "brain_embedding_calls",
    "Calls to the embedding model, by provider and outcome (ok, failed, paused: refused at once "
    "after a failure).",
    ["provider", "outcome"],
)
EMBEDDINGS_DEFERRED = Counter(
    "brain_embeddings_deferred",
    "Memories stored without their vector because the model was unavailable (the backfill fills "
    "them in).",
)
EMBEDDINGS_FILLED = Counter(
    "brain_embeddings_filled", "Vectors given to stored memories by the backfill or brain reembed."
)
DUPLICATES_FOUND = Counter(
    "brain_memories_deduplicated", "Stores with dedupe answered with an existing memory (200)."
)
MESSAGES_PUBLISHED = Counter(
    "brain_messages_published", "Messages committed, by kind and priority.", ["kind", "priority"]
)
MESSAGES_ACKED = Counter("brain_messages_acked", "Deliveries acknowledged (newly).")
MESSAGES_REDELIVERED = Counter(
    "brain_messages_redelivered", "Deliveries handed out again (lease expired or Redis lost data)."
)
RELAY_APPENDED = Counter(
    "brain_relay_appended", "Deliveries the relay appended (the share path could not)."
)
REDIS_OUTAGES = Counter("brain_redis_outages", "Times the service saw Redis become unreachable.")
AUTH_FAILURES = Counter(
    "brain_auth_failures", "Requests refused for their credential, by reason.", ["reason"]
)
KEY_LOOKUPS = Counter(
    "brain_key_lookups", "API keys looked up in PostgreSQL (a process caches each for 0.5 s)."
)
RATE_LIMITED = Counter("brain_rate_limited", "Requests refused (429) by their key's rate limit.")
RATE_LIMIT_FAIL_OPEN = Counter(
    "brain_rate_limit_fail_open",
    "Requests of rate-limited keys let through unchecked because Redis did not answer.",
)
ADMISSION_ADMITTED = Counter(
    "brain_admission_admitted", "Requests admission control let start (those it counts)."
)
ADMISSION_QUEUED = Counter(
    "brain_admission_queued", "Requests that found the limit reached and waited for a place."
)
ADMISSION_SHED = Counter(
    "brain_admission_shed",
    "Requests refused (503) by admission control: waited (no place within BRAIN_MAX_QUEUE_MS) "
    "or queue_full (8 times BRAIN_MAX_IN_FLIGHT already waiting).",
    ["reason"],
)
ADMISSION_WAIT = Histogram(
    "brain_admission_wait_seconds",
    "How long a request that found the limit reached waited (admitted or refused).",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
)
ADMISSION_DELAY = Histogram(
    "brain_event_loop_delay_seconds",
    "How late the event loop runs what is due, measured every 10 ms while the process has "
    "requests: what admission control's limit follows.",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
)
ADMISSION_OVERLOADS = Counter(
    "brain_admission_overloads",
    "Times a process became overloaded (the event loop's delay stood above 10 ms for 1 s), or "
    "stopped being.",
    ["edge"],
)
ADMISSION_OVERLOADED = Gauge(
    "brain_admission_overloaded",
    "Processes overloaded now (sampled every 5 s, summed over processes).",
    multiprocess_mode="livesum",
)
ADMISSION_LIMIT = Gauge(
    "brain_admission_limit",
    "Requests the processes may run at once now (the adapted limit, summed over processes).",
    multiprocess_mode="livesum",
)
ADMISSION_IN_FLIGHT = Gauge(
    "brain_admission_in_flight",
    "Requests running under admission control (sampled every 5 s, summed over processes).",
    multiprocess_mode="livesum",
)
ADMISSION_WAITING = Gauge(
    "brain_admission_waiting",
    "Requests waiting for a place (sampled every 5 s, summed over processes).",
    multiprocess_mode="livesum",
)
OUTBOX_BACKLOG = Gauge(
    "brain_outbox_backlog",
    "Deliveries committed but not yet on a stream.",
    multiprocess_mode="livemax",
)
STREAM_PENDING = Gauge(
    "brain_stream_pending_messages",
    "Deliveries handed to a consumer and not yet acknowledged (registered agents).",
    multiprocess_mode="livemax",
)
DEPENDENCY_UP = Gauge(
    "brain_dependency_up",
    "1 when the dependency answered its last check (the minimum across processes).",
    ["dependency"],
    multiprocess_mode="livemin",
)
DB_POOL = Gauge(
    "brain_db_pool_connections",
    "PostgreSQL pool connections: size (open), available (idle), waiting (requests queued), "
    "writes_waiting (writes queued for one of the connections writes may hold).",
    ["pool", "state"],
    multiprocess_mode="livesum",
)
DB_POOL_MAX = Gauge(
    "brain_db_pool_max",
    "Most connections the pools may open.",
    ["pool"],
    multiprocess_mode="livesum",
)
REDIS_CONNECTIONS = Gauge(
    "brain_redis_connections",
    "Redis client connections: in_use or available, for the main and the blocking client.",
    ["client", "state"],
    multiprocess_mode="livesum",
)


def render(accept: str, multiprocess_dir: str | None) -> tuple[bytes, str]:
    """The exposition for a scrape: OpenMetrics (with exemplars) when asked for, else text."""
    registry: Any = REGISTRY
    if multiprocess_dir:
        registry = CollectorRegistry()
        # prometheus-client leaves these two unannotated
        multiprocess.MultiProcessCollector(registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
    if "application/openmetrics-text" in accept:
        text = openmetrics.generate_latest(registry)  # type: ignore[no-untyped-call]
        return text, openmetrics.CONTENT_TYPE_LATEST
    return generate_latest(registry), CONTENT_TYPE_LATEST


def sample_db_pool(name: str, pool: Any) -> None:
    stats = pool.get_stats()
    DB_POOL.labels(name, "size").set(stats.get("pool_size", 0))
    DB_POOL.labels(name, "available").set(stats.get("pool_available", 0))
    DB_POOL.labels(name, "waiting").set(stats.get("requests_waiting", 0))
    DB_POOL_MAX.labels(name).set(pool.max_size)


def sample_write_slots(waiting: int) -> None:
    DB_POOL.labels("primary", "writes_waiting").set(waiting)


def sample_redis_pool(name: str, in_use: int, available: int) -> None:
    REDIS_CONNECTIONS.labels(name, "in_use").set(in_use)
    REDIS_CONNECTIONS.labels(name, "available").set(available)
