"""`stream()`: Server-Sent Events that survive a restart of the service (stopped and started on
the same port), resuming with Last-Event-ID without losing or repeating a message."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path

import httpx
import pytest

from brain import embedded
from brain_client import AsyncBrain, Brain, InvalidRequest, Retry, TakenMessage, TransportError
from brain_client._loops import EventParser
from tests.support.api import service_env
from tests.support.service import Service


def wait_for(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_stream_resumes_across_a_restart(
    database_url: str, redis_url: str, tmp_path: Path, token: str
) -> None:
    service = Service(service_env(database_url, redis_url), log=tmp_path / "serve.log").start()
    resumed_from: list[str | None] = []

    def opened(request: httpx.Request) -> None:
        if request.url.path.endswith("/stream"):
            resumed_from.append(request.headers.get("last-event-id"))

    http = httpx.Client(event_hooks={"request": [opened]})
    retry = Retry(backoff=0.2, max_backoff=1.0)
    received: list[TakenMessage] = []
    failure: list[BaseException] = []
    try:
        with http, Brain(service.url, token, http=http, retry=retry) as brain:
            brain.register_agent("sse-a")
            brain.register_agent("sse-b")

            def consume() -> None:
                try:
                    for message in brain.stream("sse-b", max_reconnects=60):
                        received.append(message)
                        if len(received) == 4:
                            return
                except BaseException as exc:  # reported by the test
                    failure.append(exc)

            consumer = threading.Thread(target=consume, daemon=True)
            consumer.start()
            wait_for(lambda: resumed_from, 10)
            time.sleep(0.3)  # connected, waiting
            sent = [brain.share("sse-a", "sse-b", {"n": n}).id for n in (1, 2)]
            wait_for(lambda: len(received) == 2 or failure, 10)
            assert service.stop() == 0  # SIGTERM; the stream's connection ends
            service.start()
            sent += [brain.share("sse-a", "sse-b", {"n": n}).id for n in (3, 4)]
            consumer.join(30)
            assert not failure, failure
            assert [m.id for m in received] == sent  # none lost, none twice
            assert {m.delivery_count for m in received} == {1}
            assert resumed_from[0] is None and len(resumed_from) >= 2
            assert set(resumed_from[1:]) == {str(sent[1])}  # every reconnection resumed after #2
            assert brain.ack("sse-b", sent) == 4
    finally:
        if service.process is not None and service.process.poll() is None:
            service.stop()


def test_stream_errors_and_async_stream(
    database_url: str, redis_url: str, tmp_path: Path, token: str
) -> None:
    with (
        Service(service_env(database_url, redis_url), log=tmp_path / "serve.log") as service,
        Brain(service.url, token) as brain,
    ):
        brain.register_agent("sse-c")
        with pytest.raises(InvalidRequest) as invalid:  # another connection would repeat it
            next(iter(brain.stream("sse-c", consumer="not a name")))
        assert invalid.value.fields == ["consumer"]

        async def pushed() -> TakenMessage:
            async with AsyncBrain(service.url, token) as client:
                await client.share("sse-c", "sse-c", {"n": "async"})
                async with contextlib.aclosing(client.stream("sse-c")) as events:
                    return await anext(events)

        message = asyncio.run(pushed())
        assert message.context == {"n": "async"} and message.delivery_count == 1
    closed = f"http://127.0.0.1:{embedded.free_port()}"
    with Brain(closed, token, retry=Retry(backoff=0.01)) as nowhere:
        with pytest.raises(TransportError) as gone:
            next(iter(nowhere.stream("sse-c", max_reconnects=2)))
        assert isinstance(gone.value.__cause__, httpx.ConnectError)


def test_the_event_parser() -> None:
    """The event stream format as the WHATWG spec reads it: comments (the heartbeats) skipped,
    `data` lines joined, `id` kept across events, `retry` read."""
    parser = EventParser()
    lines = [
        ": heartbeat", "retry: 2000", "", "event: message", "id: m-1", "data: {\"a\":", "data: 1}",
        "", ": heartbeat", "", "data:plain", "", "event: other", "data: x", "",
    ]  # fmt: skip
    events = [e for e in map(parser.line, lines) if e is not None]
    assert [(e.event, e.data, e.id) for e in events] == [
        ("message", '{"a":\n1}', "m-1"),
        ("message", "plain", "m-1"),
        ("other", "x", "m-1"),
    ]
    assert parser.comments == 2 and parser.retry_ms == 2000
