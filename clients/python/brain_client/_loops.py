"""What `stream()` and `inbox()` decide, for both clients: the Server-Sent Events parser, when
and where a stream reconnects, and when a consumer loop stops."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import Protocol

import httpx
import msgspec

from brain_client import _requests, errors, models
from brain_client._core import Attempts, Call, Config, check_media

log = logging.getLogger("brain_client")


class Flag(Protocol):
    """What stops a consumer loop: a threading.Event, an asyncio.Event, or any object with
    `is_set()`."""

    def is_set(self) -> bool: ...


class Event(msgspec.Struct):
    event: str
    data: str
    id: str | None


class EventParser:
    """Server-Sent Events, line by line (WHATWG HTML, "event stream interpretation")."""

    def __init__(self) -> None:
        self.last_id: str | None = None
        self.retry_ms: int | None = None
        self.comments = 0
        self._event = ""
        self._data: list[str] = []

    def line(self, line: str) -> Event | None:
        """Feed one line (without its end); an event when a blank line completes one."""
        if not line:
            data, event = self._data, self._event or "message"
            self._data, self._event = [], ""
            if not data:
                return None
            return Event(event, "\n".join(data), self.last_id)
        if line.startswith(":"):
            self.comments += 1  # a heartbeat
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_id = value or None
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None


_TAKEN = msgspec.json.Decoder(models.TakenMessage)


class Stream:
    """One `stream()`: its connections, one after another, resuming with `Last-Event-ID`."""

    def __init__(
        self,
        config: Config,
        agent_id: str,
        consumer: str | None,
        last_event_id: str | None,
        max_reconnects: int | None,
    ) -> None:
        self.config = config
        self.agent_id, self.consumer = agent_id, consumer
        self.last_event_id = last_event_id
        self.max_reconnects = max_reconnects
        self.failures = 0  # reconnections in a row that did not get a stream
        self.connections = 0
        self.retry_ms: int | None = None
        self.parser = EventParser()
        self._attempts: Attempts[None] | None = None

    def request(self) -> httpx.Request:
        """The next connection's request."""
        self.parser = EventParser()
        read = self.config.stream_timeout
        call: Call[None] = _requests.stream(self.agent_id, self.consumer, self.last_event_id, read)
        self._attempts = Attempts(self.config, call)
        self.connections += 1
        return self._attempts.request()

    def opened(self, status: int, headers: Mapping[str, str], content: bytes) -> float | None:
        """None: the events follow; else the seconds to wait before reconnecting. An error that
        another connection would repeat (401, 403, 404, 422) is raised."""
        assert self._attempts is not None
        if status == 200:
            check_media(self._attempts.call.op, headers)
            self.failures = 0
            return None
        error = self._attempts.error(status, headers, content)
        if status not in (429, 503) and status < 500:
            raise error
        return self._delay(error.retry_after, error)

    def line(self, line: str) -> models.TakenMessage | None:
        event = self.parser.line(line)
        if self.parser.retry_ms is not None:
            self.retry_ms = self.parser.retry_ms
        if event is None or event.event != "message":
            return None
        message = _TAKEN.decode(event.data)
        self.last_event_id = event.id or str(message.id)
        return message

    def dropped(self, exc: httpx.TransportError | None) -> float:
        """The connection failed or ended: the seconds to wait before the next one."""
        if exc is not None and isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            raise errors.TransportError(str(exc), maybe_sent=False, attempts=1) from exc
        error = None
        if exc is not None:
            error = errors.TransportError(
                f"event stream of {self.agent_id!r}: {type(exc).__name__}: {exc}",
                maybe_sent=True,
                attempts=self.failures + 1,
            )
            error.__cause__ = exc
        return self._delay(None, error)

    def _delay(self, retry_after: float | None, error: errors.BrainError | None) -> float:
        self.failures += 1
        if self.max_reconnects is not None and self.failures > self.max_reconnects:
            if error is None:
                error = errors.TransportError(
                    f"event stream of {self.agent_id!r} ended {self.failures} times in a row",
                    maybe_sent=True,
                    attempts=self.failures,
                )
            raise error
        retry = self.config.retry
        first = self.retry_ms / 1000 if self.retry_ms is not None else retry.backoff
        step = min(retry.max_backoff, first * 2 ** (self.failures - 1))
        waited = step / 2 + random.uniform(0, step / 2)  # jitter
        if retry_after is not None:
            waited = max(waited, min(retry_after, retry.max_retry_after))
        log.info("event stream of %s: reconnecting in %.2f s (%s)", self.agent_id, waited, error)
        return float(waited)


class Inbox:
    """One `inbox()` loop: how many messages to take next, and when it is over."""

    def __init__(self, limit: int, stop: Flag | None, max_messages: int | None) -> None:
        self.limit = limit
        self.stop = stop
        self.max_messages = max_messages
        self.stats = models.InboxStats()

    def running(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            return False
        return self.max_messages is None or self.stats.handled < self.max_messages

    def next_limit(self) -> int:
        """Never take more than are still to be handled (the rest would wait out a lease)."""
        if self.max_messages is None:
            return self.limit
        return max(1, min(self.limit, self.max_messages - self.stats.handled))

    def handled(self, message: models.TakenMessage, error: BaseException | None) -> bool:
        """Count a handler's outcome; True: acknowledge the message."""
        self.stats.handled += 1
        if error is None:
            return True
        self.stats.failed += 1
        log.warning(
            "handler failed on message %s (delivery %d); left unacknowledged, it is delivered "
            "again after the visibility timeout",
            message.id,
            message.delivery_count,
            exc_info=error,
        )
        return False
