"""redis_client.pipeline: several commands in one round trip on a connection of the client's
pool, parked between calls; a connection left with unread replies (an error reply, a cancelled
call) is never used again; a Redis restart fails the next call instead of passing unnoticed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import RedisError, ResponseError

from brain import embedded
from brain.kit import redis_client
from tests.support.api import settings as make_settings


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis_client.Client]:
    made = redis_client.connect(make_settings("postgresql://unused", redis_url), timeout=2.0)
    yield made
    await made.aclose()


def only_connection(client: redis_client.Client) -> None:
    """Make every call use one parked connection (unless it is discarded)."""
    client.connection_pool.max_connections = 4  # a quarter of it may be parked: 1


async def test_replies_in_order(client: redis_client.Client) -> None:
    replies = await redis_client.pipeline(
        client,
        [("SET", "k", b"v", "PX", 60000), ("HINCRBY", "h", "f", 2), ("HMGET", "h", "f", "g"),
         ("GET", "k"), ("GET", "missing")],
    )  # fmt: skip
    assert replies == [b"OK", 2, [b"2", None], b"v", None]


async def test_an_error_reply_raises_and_the_connection_is_not_reused(
    client: redis_client.Client,
) -> None:
    only_connection(client)
    await redis_client.pipeline(client, [("SET", "text", b"not a hash")])
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await redis_client.pipeline(client, [("HINCRBY", "text", "f", 1), ("GET", "text")])
    # Had the connection gone back with the GET's reply unread, this would read "not a hash".
    assert await redis_client.pipeline(client, [("GET", "other")]) == [None]


async def test_a_cancelled_call_does_not_leave_its_reply_to_the_next(
    client: redis_client.Client,
) -> None:
    only_connection(client)
    waiting = asyncio.ensure_future(redis_client.pipeline(client, [("BLPOP", "empty", 1)]))
    await asyncio.sleep(0.2)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await redis_client.pipeline(client, [("PING",)]) == [b"PONG"]
    await asyncio.sleep(1.0)  # past the BLPOP's timeout: its nil reply would have arrived
    assert await redis_client.pipeline(client, [("ECHO", b"x")]) == [b"x"]


async def test_connections_are_parked_and_more_callers_than_the_pool_all_get_one(
    client: redis_client.Client,
) -> None:
    pool = client.connection_pool
    pool.max_connections = 8  # 2 may be parked
    replies = await asyncio.gather(
        *(redis_client.pipeline(client, [("INCR", "n"), ("PING",)]) for _ in range(200))
    )
    assert sorted(r[0] for r in replies) == list(range(1, 201))
    assert redis_client.parked(client) == 2
    assert len(pool._in_use_connections) == 2  # the parked ones; the others went back
    await redis_client.pipeline(client, [("PING",)])
    assert redis_client.parked(client) == 2  # reused, not a new checkout


async def test_a_redis_restart_fails_the_next_call(own_redis: embedded.Redis) -> None:
    """The connection Redis closed is not silently replaced: the cache must learn of the restart
    (its counters may have lost their last second), so the call fails; the one after succeeds."""
    client = redis_client.connect(make_settings("postgresql://unused", own_redis.url()))
    try:
        assert await redis_client.pipeline(client, [("PING",)]) == [b"PONG"]
        assert redis_client.parked(client) == 1
        own_redis.kill()
        own_redis.start(port=own_redis.port)
        with pytest.raises(RedisError):
            await redis_client.pipeline(client, [("PING",)])
        assert await redis_client.pipeline(client, [("PING",)]) == [b"PONG"]
    finally:
        await client.aclose()


async def test_a_script_redis_does_not_have_is_sent_whole(client: redis_client.Client) -> None:
    script = client.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    await redis_client.pipeline(client, [("SCRIPT", "FLUSH")])
    assert await redis_client.run_script(client, script, ["n"], [5]) == 5  # EVAL: cached again
    assert await redis_client.pipeline(client, [("SCRIPT", "EXISTS", script.sha)]) == [[1]]
    assert await redis_client.run_script(client, script, ["n"], [2]) == 7  # EVALSHA
