"""The one place that knows Brain's HTTP API: the operations, how a call's request is built,
how its answer is parsed, and when it is tried again. `Brain` and `AsyncBrain` only move the
bytes (httpx.Client / httpx.AsyncClient) and sleep where this module says."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import random
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, Literal, TypeVar

import httpx
import msgspec

from brain_client import errors, models

T = TypeVar("T")

VERSION = "0.1.0"
IDEMPOTENCY_KEY = "Idempotency-Key"
WORKSPACE_HEADER = "X-Brain-Workspace"
LAST_EVENT_ID = "Last-Event-ID"

Retries = Literal["safe", "unsafe"]
"""`safe`: a read, a write with an Idempotency-Key, or one idempotent by its nature (PUT, DELETE,
ack): tried again after any failure the policy retries. `unsafe`: a write without idempotency
support: tried again only when it certainly never reached the service (the connection was not
made) or the service refused it unseen (429)."""


@dataclasses.dataclass(frozen=True)
class Operation:
    """One route of the API, as the service's OpenAPI document has it (tests/client check)."""

    name: str  # operationId
    method: str
    path: str  # template, "{name}" for path parameters
    query: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    body: type[msgspec.Struct] | None = None
    result: type[msgspec.Struct] | None = None  # None: no body (204), or streamed (media)
    media: str = "application/json"
    retries: Retries = "safe"
    answers: frozenset[int] = frozenset()  # statuses beyond 2xx that are answers, not errors

    @property
    def keyed(self) -> bool:
        return IDEMPOTENCY_KEY in self.headers


def _op(name: str, method: str, path: str, **kw: Any) -> Operation:
    return Operation(name, method, path, **kw)


_KEY = (IDEMPOTENCY_KEY,)
_PAGE = ("limit", "cursor")
_OPS = [
    # agents
    _op("register_agent", "PUT", "/v1/agents/{agent_id}", body=models.AgentIn,
        result=models.Agent),
    _op("list_agents", "GET", "/v1/agents", query=_PAGE, result=models.AgentPage),
    _op("get_agent", "GET", "/v1/agents/{agent_id}", result=models.Agent),
    _op("unregister_agent", "DELETE", "/v1/agents/{agent_id}", query=("purge",), media=""),
    _op("export_agent", "GET", "/v1/agents/{agent_id}/export", media="application/x-ndjson"),
    # memories
    _op("store_memory", "POST", "/v1/memories", headers=_KEY, body=models.MemoryIn,
        result=models.Memory),
    _op("store_memories", "POST", "/v1/memories/batch", headers=_KEY, body=models.BatchIn,
        result=models.MemoryList),
    _op("get_memory", "GET", "/v1/memories/{memory_id}", result=models.Memory),
    _op("delete_memory", "DELETE", "/v1/memories/{memory_id}", media=""),
    _op("query_memories", "POST", "/v1/memories/query", body=models.QueryIn,
        result=models.MemoryPage),
    _op("list_agent_memories", "GET", "/v1/agents/{agent_id}/memories", query=_PAGE,
        result=models.MemoryPage),
    # messages
    _op("share_message", "POST", "/v1/messages", headers=_KEY, body=models.ShareIn,
        result=models.Message),
    _op("broadcast_message", "POST", "/v1/messages/broadcast", headers=_KEY,
        body=models.BroadcastIn, result=models.Message),
    _op("take_messages", "GET", "/v1/agents/{agent_id}/messages",
        query=("limit", "wait", "consumer"), result=models.Inbox),
    _op("ack_messages", "POST", "/v1/agents/{agent_id}/messages/ack", body=models.AckIn,
        result=models.Acked),
    _op("stream_messages", "GET", "/v1/agents/{agent_id}/messages/stream",
        query=("consumer",), headers=(LAST_EVENT_ID,), media="text/event-stream"),
    _op("message_history", "GET", "/v1/messages/history",
        query=("agent", "peer", "limit", "before", "cursor"), result=models.MessagePage),
    _op("replay_messages", "GET", "/v1/agents/{agent_id}/messages/replay",
        query=("since", "limit", "cursor"), result=models.ReplayPage),
    # admin
    _op("stats", "GET", "/v1/stats", result=models.Stats),
    _op("cleanup", "POST", "/v1/admin/cleanup", result=models.Cleanup, retries="unsafe"),
    _op("clear", "POST", "/v1/admin/clear", body=models.ClearIn, media="", retries="unsafe"),
    _op("audit_log", "GET", "/v1/audit", query=_PAGE, result=models.AuditPage),
    # workspaces and keys
    _op("create_workspace", "POST", "/v1/workspaces", body=models.WorkspaceIn,
        result=models.Workspace, retries="unsafe"),
    _op("list_workspaces", "GET", "/v1/workspaces", query=_PAGE, result=models.WorkspacePage),
    _op("delete_workspace", "DELETE", "/v1/workspaces/{workspace_id}", query=("confirm",),
        media=""),
    _op("create_key", "POST", "/v1/workspaces/{workspace_id}/keys", body=models.KeyIn,
        result=models.NewKey, retries="unsafe"),
    _op("list_keys", "GET", "/v1/workspaces/{workspace_id}/keys", result=models.KeyList),
    _op("revoke_key", "DELETE", "/v1/workspaces/{workspace_id}/keys/{key_id}", media=""),
    # health
    _op("live", "GET", "/health/live", result=models.Live),
    _op("ready", "GET", "/health/ready", result=models.Ready, answers=frozenset({503})),
]  # fmt: skip
OPERATIONS: dict[str, Operation] = {op.name: op for op in _OPS}

METHODS: dict[str, tuple[str, ...]] = {
    "register_agent": ("register_agent",),
    "get_agent": ("get_agent",),
    "list_agents": ("list_agents",),
    "iter_agents": ("list_agents",),
    "unregister_agent": ("unregister_agent",),
    "purge_agent": ("unregister_agent",),
    "export_agent": ("export_agent",),
    "store": ("store_memory",),
    "store_batch": ("store_memories",),
    "get_memory": ("get_memory",),
    "delete_memory": ("delete_memory",),
    "query": ("query_memories",),
    "iter_query": ("query_memories",),
    "agent_memories": ("list_agent_memories",),
    "iter_agent_memories": ("list_agent_memories",),
    "share": ("share_message",),
    "broadcast": ("broadcast_message",),
    "take": ("take_messages",),
    "ack": ("ack_messages",),
    "inbox": ("take_messages", "ack_messages"),
    "stream": ("stream_messages",),
    "history": ("message_history",),
    "iter_history": ("message_history",),
    "replay": ("replay_messages",),
    "iter_replay": ("replay_messages",),
    "stats": ("stats",),
    "cleanup": ("cleanup",),
    "clear": ("clear",),
    "audit_log": ("audit_log",),
    "iter_audit_log": ("audit_log",),
    "create_workspace": ("create_workspace",),
    "list_workspaces": ("list_workspaces",),
    "iter_workspaces": ("list_workspaces",),
    "delete_workspace": ("delete_workspace",),
    "create_key": ("create_key",),
    "list_keys": ("list_keys",),
    "revoke_key": ("revoke_key",),
    "live": ("live",),
    "ready": ("ready",),
}
"""Each public method of `Brain` and `AsyncBrain` and the operations it calls (the drift test
checks both classes against this table, and the table against the served OpenAPI document)."""


# -- configuration ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Retry:
    """When and how long a call waits before it is tried again.

    `attempts` tries in all (1: never again). The n-th retry waits `backoff * 2**(n-1)` seconds
    (at most `max_backoff`), half of it fixed and half random (jitter); an answer's `Retry-After`
    is waited at least, unless it asks for more than `max_retry_after`: then the error is raised
    at once. Retried: connection errors and timeouts, 429 and 503 (and other 5xx for reads)."""

    attempts: int = 4
    backoff: float = 0.2
    max_backoff: float = 5.0
    max_retry_after: float = 30.0

    def delay(self, retry: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before retry number `retry` (1, 2, ...); None: do not retry."""
        if retry >= self.attempts:
            return None
        if retry_after is not None and retry_after > self.max_retry_after:
            return None
        step = min(self.max_backoff, self.backoff * 2 ** (retry - 1))
        waited = step / 2 + random.uniform(0, step / 2)  # jitter, not secrets
        return float(max(waited, retry_after or 0.0))


@dataclasses.dataclass(frozen=True)
class Config:
    """What every call of one client shares."""

    base_url: str
    token: str | None
    workspace: str | None = None
    timeout: float = 10.0
    connect_timeout: float = 5.0
    retry: Retry = Retry()
    stream_timeout: float = 45.0  # no byte (not even a heartbeat, every 15 s) for so long: gone
    headers: tuple[tuple[str, str], ...] = ()

    def http_timeout(self, read: float | None = None) -> httpx.Timeout:
        """`read`: a call's own read timeout (a long poll, a stream), if longer."""
        read = max(self.timeout, read or 0.0)
        return httpx.Timeout(self.timeout, connect=self.connect_timeout, read=read)

    def timeouts(self, read: float | None = None) -> dict[str, float | None]:
        """A request's `timeout` extension (what httpx's transports read)."""
        if read is None:
            return self._timeouts
        return self.http_timeout(read).as_dict()

    @functools.cached_property
    def _timeouts(self) -> dict[str, float | None]:
        return self.http_timeout().as_dict()

    @functools.cached_property
    def request_headers(self) -> dict[str, str]:
        """Headers of every request (sent with each, so that clients of other workspaces, or a
        caller's own httpx client, can share one connection pool)."""
        headers = {"User-Agent": f"brain-client/{VERSION} httpx/{httpx.__version__}"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.workspace is not None:
            headers[WORKSPACE_HEADER] = self.workspace
        headers.update(self.headers)
        return headers

    @functools.cached_property
    def root(self) -> str:
        return self.base_url.rstrip("/")


LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=4.0)
"""Idle connections are dropped after 4 s, before uvicorn closes them (5 s): a request sent on a
connection the server is closing fails with no answer, which an unsafe write cannot retry."""


# -- calls -----------------------------------------------------------------------------------------


@dataclasses.dataclass
class Call(Generic[T]):
    """One request of an operation, ready to send (as often as its retries allow), and how its
    answer becomes a result."""

    op: Operation
    decode: Callable[[bytes], T]
    path_params: Mapping[str, str] = dataclasses.field(default_factory=dict)
    params: dict[str, str] = dataclasses.field(default_factory=dict)
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    content: bytes | None = None
    read_timeout: float | None = None

    @property
    def path(self) -> str:
        quoted = {k: urllib.parse.quote(v, safe="") for k, v in self.path_params.items()}
        return self.op.path.format(**quoted)


def _none(_: bytes) -> None:
    return None


def _decoder(kind: type[T]) -> Callable[[bytes], T]:
    decoder = msgspec.json.Decoder(kind)
    return decoder.decode


_DECODERS: dict[str, Callable[[bytes], Any]] = {
    op.name: (_decoder(op.result) if op.result is not None else _none) for op in _OPS
}
_ENCODER = msgspec.json.Encoder()


def call(
    name: str,
    *,
    path: Mapping[str, str] | None = None,
    params: Mapping[str, object] | None = None,
    body: msgspec.Struct | None = None,
    headers: Mapping[str, str | None] | None = None,
    read_timeout: float | None = None,
) -> Call[Any]:
    """A call of operation `name`: parameters None are left out; a write that takes an
    Idempotency-Key gets a new one (uuid4) unless `headers` brings it, the same on every try."""
    op = OPERATIONS[name]
    query = {k: text(v) for k, v in (params or {}).items() if v is not None}
    sent = {k: v for k, v in (headers or {}).items() if v is not None}
    if op.keyed and IDEMPOTENCY_KEY not in sent:
        sent[IDEMPOTENCY_KEY] = str(uuid.uuid4())
    content = None
    if body is not None:
        content = _ENCODER.encode(body)
        sent["Content-Type"] = "application/json"
    return Call(op, _DECODERS[name], dict(path or {}), query, sent, content, read_timeout)


def text(value: object) -> str:
    """A query parameter's text: booleans as true/false, date-times in RFC 3339 (with an
    offset: Brain refuses one without)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"{value!r} needs a timezone (RFC 3339 with an offset)")
        return value.isoformat()
    return str(value)


def unset(value: T | None) -> T | msgspec.UnsetType:
    """None as left out of a body."""
    return msgspec.UNSET if value is None else value


def ids(values: Iterable[uuid.UUID | str]) -> list[uuid.UUID]:
    return [v if isinstance(v, uuid.UUID) else uuid.UUID(str(v)) for v in values]


# -- answers and retries ---------------------------------------------------------------------------

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
"""Failures before the request left: safe to try again whatever it is."""
_FATAL = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
"""Failures another try would repeat."""


def problem_of(status: int, content: bytes, path: str) -> models.Problem:
    """The problem-details body, or one made up when the body is not one (a proxy's page)."""
    try:
        problem = msgspec.json.decode(content, type=models.Problem)
    except (msgspec.DecodeError, msgspec.ValidationError):
        phrase = httpx.codes.get_reason_phrase(status) or "Error"
        detail = content[:500].decode("utf-8", "replace").strip() or phrase
        return models.Problem("about:blank", phrase, status, detail, path)
    return problem


class Attempts(Generic[T]):
    """The tries of one call: what to send, and after each outcome, how long to wait before the
    next try, the error to raise, or the result."""

    def __init__(self, config: Config, call: Call[T]) -> None:
        self.config = config
        self.call = call
        self.count = 0
        self.maybe_sent = False  # an earlier try may have reached the service

    def request(self) -> httpx.Request:
        """The next try's request."""
        self.count += 1
        call, config = self.call, self.config
        headers = {**config.request_headers, **call.headers} if call.headers else None
        return httpx.Request(
            call.op.method,
            config.root + call.path,
            params=call.params or None,
            headers=headers or config.request_headers,
            content=call.content,
            extensions={"timeout": config.timeouts(call.read_timeout)},
        )

    def failed(self, exc: httpx.TransportError) -> float:
        """No answer: the seconds to wait before the next try, or TransportError."""
        sent = not isinstance(exc, _NOT_SENT)
        self.maybe_sent = self.maybe_sent or sent
        delay = None
        if not isinstance(exc, _FATAL) and (self.call.op.retries == "safe" or not sent):
            delay = self.config.retry.delay(self.count)
        if delay is None:
            where = f"{self.call.op.method} {self.call.path}"
            raise errors.TransportError(
                f"{type(exc).__name__} on {where} after {self.count} attempt(s): {exc}",
                maybe_sent=self.maybe_sent,
                attempts=self.count,
            ) from exc
        return delay

    def answered(self, status: int, headers: Mapping[str, str]) -> float | None:
        """An answer: the seconds to wait before the next try, or None: it is final."""
        if 200 <= status < 300 or status in self.call.op.answers:
            return None
        retried = status in (429, 503) or (status >= 500 and self.call.op.method == "GET")
        if not retried or (status != 429 and self.call.op.retries == "unsafe"):
            return None  # a 503 to a write may follow a commit no standby confirmed (G1)
        return self.config.retry.delay(self.count, errors.retry_after(headers.get("retry-after")))

    def finish(self, status: int, headers: Mapping[str, str], content: bytes) -> T:
        """The result of a final answer, or its APIError."""
        op = self.call.op
        if 200 <= status < 300 or status in op.answers:
            return self.call.decode(content)
        if status == 404 and op.method == "DELETE" and self.maybe_sent:
            return self.call.decode(b"")  # an earlier try, unanswered, deleted it: it is gone
        raise self.error(status, headers, content)

    def error(self, status: int, headers: Mapping[str, str], content: bytes) -> errors.APIError:
        kind = errors.error_for(status)
        problem = problem_of(status, content, self.call.path)
        return kind(
            problem, headers, method=self.call.op.method, url=self.call.path, attempts=self.count
        )


def check_media(op: Operation, headers: Mapping[str, str]) -> None:
    """A streamed answer must be of the operation's media type (not a proxy's page)."""
    got = headers.get("content-type", "")
    if not got.startswith(op.media):
        raise errors.BrainError(f"{op.method} {op.path} answered {got!r}, not {op.media}")
