"""The client's retry rules against real failures: Redis really down (messaging answers 503), an
answer cut off after the service committed (a TCP proxy drops it), nothing listening; and the
consumer loop redelivering what a handler failed on (a 1 s visibility timeout)."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from brain import embedded
from brain_client import (
    Brain,
    InboxStats,
    Retry,
    ServiceUnavailable,
    TakenMessage,
    TransportError,
)
from tests.client.conftest import CuttingProxy, database, running
from tests.support.api import service_env
from tests.support.service import Service

TAKE_ROUTE = "/v1/agents/{agent_id}/messages"


@dataclasses.dataclass
class Stack:
    service: Service
    redis: embedded.Redis
    database_url: str


@pytest.fixture(scope="module")
def stack(
    pg_server: embedded.Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """`brain serve` on a Redis of its own (AOF on, so that a restart finds its data) with a
    visibility timeout of 1 s."""
    redis = embedded.Redis(tmp_path_factory.mktemp("reliability-redis"))
    redis.start()
    try:
        with database(pg_server) as url:
            env = {**service_env(url, redis.url()), "BRAIN_VISIBILITY_TIMEOUT_SECONDS": "1"}
            log = tmp_path_factory.mktemp("reliability") / "serve.log"
            with running(env, log) as service:
                yield Stack(service, redis, url)
    finally:
        redis.stop()


def answered(service: Service, route: str, status: int) -> float:
    """What the service counted of `route`'s answers with `status` (its /metrics)."""
    text = httpx.get(f"{service.url}/metrics", timeout=10).text
    wanted = (f'route="{route}"', f'status="{status}"')
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("brain_http_requests_total{") and all(w in line for w in wanted)
    )


def wait_ready(service: Service, redis: str = "up", timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while httpx.get(f"{service.url}/health/ready", timeout=5).json()["redis"] != redis:
        assert time.monotonic() < deadline, f"redis never {redis}"
        time.sleep(0.1)


def test_a_503_is_retried_then_raised_or_answered_once_redis_is_back(
    stack: Stack, token: str
) -> None:
    service = stack.service
    with Brain(service.url, token) as brain:
        brain.register_agent("down-a")
        brain.register_agent("down-b")
    stack.redis.kill()
    wait_ready(service, redis="down")
    before = answered(service, TAKE_ROUTE, 503)
    takes: list[httpx.Request] = []
    http = httpx.Client(event_hooks={"request": [takes.append]})
    retry = Retry(attempts=3, backoff=0.05, max_retry_after=5)
    with http, Brain(service.url, token, http=http, retry=retry) as brain:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as down:
            brain.take("down-b")
        elapsed = time.monotonic() - started
        sent = brain.share("down-a", "down-b", {"n": 1})  # committed; waits in the outbox (G6)
    assert down.value.status == 503 and down.value.title == "Service unavailable"
    assert down.value.attempts == 3 and down.value.retry_after == 2
    assert len([r for r in takes if r.method == "GET"]) == 3
    assert answered(service, TAKE_ROUTE, 503) - before == 3  # the service saw three tries
    assert elapsed >= 4  # waited Retry-After (2 s) before each retry

    def back_in_a_second() -> None:
        time.sleep(1.0)
        stack.redis.start(port=stack.redis.port)

    restart = threading.Thread(target=back_in_a_second)
    patient = Retry(attempts=20, backoff=0.2, max_backoff=1.0)
    with Brain(service.url, token, retry=patient) as brain:
        restart.start()
        try:
            got = brain.take("down-b", wait=5)
        finally:
            restart.join()
        assert [m.id for m in got] == [sent.id]
        assert brain.ack("down-b", [sent.id]) == 1
    assert answered(service, TAKE_ROUTE, 503) - before >= 4  # some tries met Redis still down
    wait_ready(service)


def rows(database_url: str, statement: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(statement, params).fetchall()


def test_an_answer_cut_off_is_retried_with_its_key_and_stored_once(
    stack: Stack, token: str
) -> None:
    requests: list[httpx.Request] = []
    replayed: list[str | None] = []
    hooks = {
        "request": [requests.append],
        "response": [lambda r: replayed.append(r.headers.get("idempotent-replayed"))],
    }
    retry = Retry(attempts=3, backoff=0.05)
    with CuttingProxy(stack.service.port) as proxy:
        http = httpx.Client(event_hooks=hooks)
        with http, Brain(proxy.url, token, http=http, retry=retry) as brain:
            brain.register_agent("cut-a")
            brain.register_agent("cut-b")
            requests.clear()
            replayed.clear()
            proxy.cut_next_response()
            memory = brain.store("cut-a", {"note": "stored once"})
            assert proxy.cuts == 1
            keys = [r.headers["idempotency-key"] for r in requests]
            assert len(keys) == 2 and keys[0] == keys[1]  # the retry carried the same key
            assert uuid.UUID(keys[0]).version == 4
            assert replayed == ["true"]  # the service answered the first store again
            proxy.cut_next_response()
            message = brain.share("cut-a", "cut-b", {"note": "sent once"})
            assert proxy.cuts == 2

            # A write without idempotency support is not tried again once it may have arrived.
            requests.clear()
            proxy.cut_next_response()
            with pytest.raises(TransportError) as lost:
                brain.create_key("default", "cut key", ["memories:read"])
            assert lost.value.maybe_sent and lost.value.attempts == 1 and len(requests) == 1
            assert isinstance(lost.value.__cause__, httpx.RemoteProtocolError)
    url = stack.database_url
    stored = rows(url, "SELECT id FROM memories WHERE agent_id = %s", "cut-a")
    assert stored == [(memory.id,)]
    assert rows(url, "SELECT id FROM messages WHERE from_agent = %s", "cut-a") == [(message.id,)]
    assert len(rows(url, "SELECT id FROM api_keys WHERE name = %s", "cut key")) == 1


def test_nothing_listening(token: str) -> None:
    """A connection never made: whatever the call, it is tried again (it never arrived)."""
    url = f"http://127.0.0.1:{embedded.free_port()}"
    with Brain(url, token, retry=Retry(attempts=3, backoff=0.01)) as brain:
        with pytest.raises(TransportError) as refused:
            brain.create_key("default", "never", ["admin"])
        assert refused.value.attempts == 3 and not refused.value.maybe_sent
        assert isinstance(refused.value.__cause__, httpx.ConnectError)


def test_the_inbox_redelivers_what_its_handler_failed_on(stack: Stack, token: str) -> None:
    with Brain(stack.service.url, token) as brain:
        brain.register_agent("in-a")
        brain.register_agent("in-b")
        first = brain.share("in-a", "in-b", {"n": 1})
        brain.share("in-a", "in-b", {"n": 2})
        calls: list[tuple[int, int]] = []

        def handler(message: TakenMessage) -> None:
            calls.append((message.context["n"], message.delivery_count))
            if message.id == first.id and message.delivery_count == 1:
                raise RuntimeError("the handler failed")

        give_up = threading.Event()  # should the redelivery never come
        timer = threading.Timer(15, give_up.set)
        timer.start()
        try:
            stats = brain.inbox(
                "in-b", handler, consumer="worker", wait=1, max_messages=3, stop=give_up
            )
        finally:
            timer.cancel()
        assert calls == [(1, 1), (2, 1), (1, 2)]  # after the 1 s lease, delivered again
        assert stats == InboxStats(handled=3, acked=2, failed=1)
        replayed = brain.replay("in-b", first.created_at).items
        assert [m.acked_at is not None for m in replayed] == [True, True]
        assert brain.take("in-b", consumer="worker") == []

        stop = threading.Event()
        brain.share("in-a", "in-b", {"n": 3})
        brain.share("in-a", "in-b", {"n": 4})

        def stopping(message: TakenMessage) -> None:
            stop.set()  # the batch is finished, then the loop ends

        stats = brain.inbox("in-b", stopping, wait=1, limit=10, stop=stop)
        assert stats == InboxStats(handled=2, acked=2, failed=0)
        assert brain.inbox("in-b", stopping, stop=stop) == InboxStats()  # stopped: no poll


def test_the_service_failed_no_request(stack: Stack) -> None:
    """The service itself never failed a request of these tests with a 500."""
    assert answered(stack.service, "/v1/memories", 500) == 0
    assert answered(stack.service, "/v1/messages", 500) == 0
