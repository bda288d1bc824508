"""One place that builds Redis clients, for a single node or a Redis Cluster."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from brain.settings import Settings

Client = Redis | RedisCluster
MAX_CONNECTIONS = 256
"""Connections per client and process to a single Redis (a cluster client opens one pool per
node, unbounded)."""


def connect(
    settings: Settings, *, timeout: float = 0.5, read_timeout: float | None = None
) -> Client:
    """A client with short timeouts: a slow or absent Redis must not hold requests up (G6).

    `read_timeout` is for the client that blocks (long polls): longer than any block it issues.
    """
    assert settings.redis_url is not None
    options = {
        "socket_timeout": read_timeout or timeout,
        "socket_connect_timeout": timeout,
        # No silent retry: a broken connection (Redis restarted, perhaps losing its last second of
        # AOF) must surface, so that the cache retires its entries before trusting Redis again.
        "retry": Retry(NoBackoff(), 0),
        "decode_responses": False,
    }
    if settings.redis_cluster:
        return RedisCluster.from_url(settings.redis_url, **options)
    # More concurrent calls than connections wait for one (up to the timeout) instead of failing
    # at once with "Too many connections", which the service would take for an outage.
    pool = BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=MAX_CONNECTIONS, timeout=read_timeout or timeout,
        health_check_interval=10, **options,
    )  # fmt: skip
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes its connections
