"""One place that builds Redis clients, for a single node or a Redis Cluster."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from brain import tracing
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


async def pipeline(client: Client, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Send `commands` in one round trip; their replies, as Redis sends them (an error reply
    raises ResponseError).

    On a single node, straight on a pooled connection: redis-py's Pipeline (command stack,
    response callbacks, retry and timing wrappers) was a third of the CPU of a cached query.
    Through the Pipeline on a cluster (it routes each command to its node) and while tracing
    (the Redis instrumentation makes its spans there)."""
    if not isinstance(client, Redis) or tracing.active():
        pipe = client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return await pipe.execute()  # type: ignore[no-any-return]
    pool = client.connection_pool
    conn = await pool.get_connection()
    try:
        await conn.send_packed_command(conn.pack_commands(commands))
        return [await conn.read_response() for _ in commands]
    except BaseException:
        await conn.disconnect()  # replies may be left unread: the connection is not reused
        raise
    finally:
        await pool.release(conn)
