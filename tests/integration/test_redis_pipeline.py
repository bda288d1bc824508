"""redis_client.pipeline: several commands in one round trip on a pooled connection; a connection
left with unread replies (an error reply, a cancelled call) is never handed out again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ResponseError

from brain import redis_client
from tests.conftest import make_settings


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis_client.Client]:
    # One connection in the pool: every call reuses it unless it was discarded.
    settings = make_settings("postgresql://unused", redis_url)
    made = redis_client.connect(settings, timeout=2.0)
    made.connection_pool.max_connections = 1
    yield made
    await made.aclose()


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
    await redis_client.pipeline(client, [("SET", "text", b"not a hash")])
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await redis_client.pipeline(client, [("HINCRBY", "text", "f", 1), ("GET", "text")])
    # Had the connection gone back with the GET's reply unread, this would read "not a hash".
    assert await redis_client.pipeline(client, [("GET", "other")]) == [None]


async def test_a_cancelled_call_does_not_leave_its_reply_to_the_next(
    client: redis_client.Client,
) -> None:
    waiting = asyncio.ensure_future(redis_client.pipeline(client, [("BLPOP", "empty", 1)]))
    await asyncio.sleep(0.2)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await redis_client.pipeline(client, [("PING",)]) == [b"PONG"]
    await asyncio.sleep(1.0)  # past the BLPOP's timeout: its nil reply would have arrived
    assert await redis_client.pipeline(client, [("ECHO", b"x")]) == [b"x"]
