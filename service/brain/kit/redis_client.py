"""One place that builds Redis clients, for a single node or a Redis Cluster."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError
from redis.retry import Retry

from brain.observability import tracing

if TYPE_CHECKING:
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


PARKED_MAX = 64
"""Connections `pipeline` keeps checked out of a pool between calls: at most this many, and at
most a quarter of the pool, so that its other users always find connections."""
_parked: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()
_waiting: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def parked(client: Client) -> int:
    """Connections of `client`'s pool that are parked for `pipeline` (idle, though checked out)."""
    pool = getattr(client, "connection_pool", None)
    return len(_parked.get(pool, ())) if pool is not None else 0


def pool_counts(client: Client) -> tuple[int, int] | None:
    """(in use, available) connections of a single-node client's pool; None for a cluster client
    (one pool per node). Connections parked for `pipeline` are idle, so available."""
    pool = getattr(client, "connection_pool", None)
    if pool is None:
        return None
    idle = parked(client)
    in_use = len(getattr(pool, "_in_use_connections", ())) - idle
    return in_use, len(getattr(pool, "_available_connections", ())) + idle


async def pipeline(client: Client, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Send `commands` in one round trip; their replies, as Redis sends them (an error reply
    raises ResponseError).

    On a single node, straight on a connection of the client's pool, which stays checked out
    between calls (parked, up to PARKED_MAX): redis-py's Pipeline (command stack, callbacks,
    retry and timing wrappers) and its pool's checkout and return (condition, locks, timeout,
    a readability probe, observability hooks) were half the CPU of a cached query in the
    service. A call that fails or is cancelled disconnects its connection and returns it to the
    pool: nothing is retried, and a connection Redis closed (a restart) fails its next call, so
    the cache notices. Through the Pipeline on a cluster (it routes each command to its node)
    and while tracing (the Redis instrumentation makes its spans there)."""
    if not isinstance(client, Redis) or tracing.active():
        pipe = client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return await pipe.execute()
    pool = client.connection_pool
    idle = _parked.setdefault(pool, [])
    if idle:
        conn = idle.pop()
    else:
        _waiting[pool] = _waiting.get(pool, 0) + 1
        try:
            conn = await pool.get_connection()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        finally:
            _waiting[pool] -= 1
    try:
        await conn.send_packed_command(conn.pack_commands(commands))
        replies = [await conn.read_response() for _ in commands]
    except BaseException:
        await conn.disconnect()  # replies may be left unread: the connection is not reused
        await pool.release(conn)
        raise
    # Parked unless another call waits for the pool: parked, it would not wake that one.
    if not _waiting.get(pool) and len(idle) < min(PARKED_MAX, pool.max_connections // 4):
        idle.append(conn)
    else:
        await pool.release(conn)
    return replies


async def run_script(
    client: Client, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]
) -> Any:
    """A script registered on `client` (`register_script`), through `pipeline` on a single node:
    EVALSHA, or EVAL when Redis does not have it (restarted, or SCRIPT FLUSH), which caches it
    again."""
    if not isinstance(client, Redis) or tracing.active():
        return await script(keys=keys, args=args)
    try:
        (reply,) = await pipeline(client, [("EVALSHA", script.sha, len(keys), *keys, *args)])
    except NoScriptError:
        (reply,) = await pipeline(client, [("EVAL", script.script, len(keys), *keys, *args)])
    return reply
