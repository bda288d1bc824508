"""The MCP tools: what each is for (written for a model choosing among them), its JSON Schema,
the HTTP request of Brain's API it becomes, and how the answer comes back.

A tool call is one request to the API, as the caller (`Backend`): authentication, scopes, an
agent-bound key's limits, validation, idempotency and the cache are the API's own. The schemas
here say what a model should send; the API decides what is accepted, and its problem details come
back as a tool error (`is_error`), never as a failure of the session: "422: importance: must be
<= 1.0 (field importance)".

Arguments carry the API's field names (`agent_id`, `from_agent`, `memory_id`), so the fields its
errors name are the tool's. Beyond the API: `text` (a plain note instead of a `context` object),
the acting agent as a default (an agent-bound key's agent, or `brain mcp --agent`), and an
`Idempotency-Key` made for every write (kept over the call's retries; `idempotency_key` lets a
model retry a call whose outcome it never saw)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import msgspec
from mcp import types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from brain.kit import errors, fields, patterns
from brain.kit.loopback import Answer, Request

log = logging.getLogger("brain.mcp")

ATTEMPTS = 3
"""Tries of one tool call's request when Brain answers 503 or cannot be reached (a write keeps
its Idempotency-Key: G5 makes the retry safe)."""
MAX_RETRY_WAIT = 1.0
MAX_PENDING, MAX_WAIT_SECONDS, MAX_ACK_IDS = (
    fields.MAX_PENDING, fields.MAX_WAIT_SECONDS, fields.MAX_ACK_IDS,
)  # fmt: skip
_PRINTABLE = re.compile(r"[\x20-\x7e]{1,255}\Z")  # kit.http.IdempotencyKey
MAX_CONTEXT_NOTE = "any JSON object (at most BRAIN_MAX_CONTEXT_BYTES, 64 KiB by default)"

INSTRUCTIONS = """\
Brain is the shared memory and message bus of a team of agents (one workspace).
- Memories persist and every agent of the workspace can recall them: use `remember` for what is \
worth knowing later (facts, decisions, preferences, results), `recall` to look things up before \
working (by words, by meaning, by tags, by agent), `forget` to delete one that is wrong.
- Messages go to other agents now: `share` to one agent, `broadcast` to all of them; each agent \
takes its own with `inbox` and confirms with `ack` once handled (until then a message is delivered \
again). `list_agents` says who is there.
Errors come back as a tool error "status: detail (field name)"; fix the named field and retry."""


# -- JSON Schema pieces ----------------------------------------------------------------------------

AGENT_ID_PATTERN = patterns.AGENT_ID_PATTERN.removesuffix("\\Z") + "$"  # ECMA 262, as OpenAPI
_AGENT = {
    "type": "string", "minLength": 1, "maxLength": fields.MAX_ID_CHARS,
    "pattern": AGENT_ID_PATTERN,
}  # fmt: skip
_ACTING = (
    "Defaults to the agent this connection acts as (an agent-bound API key's agent, or `brain mcp "
    "--agent`); required otherwise."
)
_UUID = {"type": "string", "format": "uuid"}
_TIME = {"type": "string", "format": "date-time"}
_TAGS = {
    "type": "array",
    "items": {"type": "string", "minLength": 1, "maxLength": fields.MAX_TAG_CHARS},
    "maxItems": fields.MAX_TAGS,
}
_TTL = {"type": "integer", "minimum": 1, "maximum": fields.MAX_TTL_SECONDS}
_PRIORITY = {
    "type": "string",
    "enum": ["low", "normal", "high", "urgent"],
    "description": "Delivery order: urgent first, then high, normal (the default), low.",
}
_NOTE = {
    "type": "string",
    "minLength": 1,
    "description": 'A plain note, stored as the context {"text": ...}. Give `text` or `context`.',
}
_CONTEXT = {
    "type": "object",
    "description": f"The content: {MAX_CONTEXT_NOTE}. Give `context` or `text`.",
}
_IDEMPOTENCY_KEY = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "description": "Only to retry a call whose outcome you did not see: the same key with the same "
    "arguments stores once and answers the first answer.",
}
_SENT: dict[str, Any] = {
    "from_agent": {**_AGENT, "description": f"The sender. {_ACTING}"},
    "text": _NOTE,
    "context": _CONTEXT,
    "priority": _PRIORITY,
    "ttl_seconds": {
        **_TTL,
        "description": "Not delivered after this many seconds (none: no expiry).",
    },
    "idempotency_key": _IDEMPOTENCY_KEY,
}
"""The arguments of share and broadcast alike."""
_CURSOR = {
    "type": "string",
    "maxLength": 1024,
    "description": "`next_cursor` of the previous page, with the same other arguments.",
}


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


MEMORY = _object(
    {
        "id": _UUID,
        "agent_id": {"type": "string"},
        "context": {"type": "object"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "importance": {"type": "number"},
        "created_at": _TIME,
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "score": {
            "type": "number",
            "description": "Ranked recalls only, higher is better: the cosine similarity with "
            "`semantic` (-1..1); with `text` as well, a reciprocal rank fusion score.",
        },
        "duplicate_of": {
            "type": "string",
            "description": "`remember` with `dedupe` found a near duplicate: nothing was stored, "
            "this is that memory.",
        },
    },
    ("id", "agent_id", "context", "tags", "importance", "created_at", "expires_at"),
)
MEMORY["additionalProperties"] = True  # the API may add fields; a client must not break on them
MESSAGE = _object(
    {
        "id": _UUID,
        "from_agent": {"type": "string"},
        "to_agent": {"type": ["string", "null"], "description": "null: a broadcast"},
        "context": {"type": "object"},
        "priority": {"type": "string"},
        "created_at": _TIME,
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "delivery_count": {"type": "integer", "description": "inbox: 1, more when delivered again"},
    },
    ("id", "from_agent", "to_agent", "context", "priority", "created_at", "expires_at"),
)
MESSAGE["additionalProperties"] = True
AGENT = _object(
    {
        "id": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "role": {"type": ["string", "null"]},
        "capabilities": {"type": "array", "items": {"type": "string"}},
        "metadata": {"type": "object"},
        "registered_at": _TIME,
        "last_seen_at": _TIME,
    },
    ("id",),
)
AGENT["additionalProperties"] = True


def _page(item: dict[str, Any]) -> dict[str, Any]:
    return _object(
        {
            "items": {"type": "array", "items": item},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "null: the last page; else pass it as `cursor` for the next.",
            },
        },
        ("items", "next_cursor"),
    )


# -- requests and answers --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """Who a tool call acts for: the headers that carry its credential to the API, and the agent
    it acts as when an argument leaves it out (None: none)."""

    headers: Mapping[str, str]
    agent_id: str | None = None


class Unreachable(Exception):
    """Brain did not answer (`brain mcp` only: a network error)."""


class Backend(Protocol):
    """Where tool calls go: the app itself in-process (/mcp), or a Brain over HTTP (stdio)."""

    def caller(self, ctx: ServerRequestContext[Any, Any]) -> Caller: ...

    async def send(self, caller: Caller, request: Request) -> Answer:
        """The API's answer; Unreachable when there is none."""
        ...


Build = Callable[[dict[str, Any], Caller], Request]
Shape = Callable[[Answer, Request], Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Tool:
    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    build: Build
    shape: Shape | None = None
    """The structured result from the answer (None: its JSON body as it is)."""
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False

    def definition(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            input_schema=self.input_schema,
            output_schema=self.output_schema,
            annotations=types.ToolAnnotations(
                title=self.title,
                read_only_hint=self.read_only,
                destructive_hint=self.destructive,
                idempotent_hint=self.idempotent,
                open_world_hint=False,
            ),
        )


# -- argument helpers (errors name the argument, as the API's name its fields) ---------------------


def _acting(arguments: dict[str, Any], name: str, caller: Caller) -> str:
    """The agent of `name`, by default the caller's; a path segment, so checked here."""
    value = arguments.pop(name, None)
    if value is None:
        value = caller.agent_id
    if value is None:
        raise errors.Invalid(f"{name}: is required (this connection acts as no agent)", field=name)
    if not isinstance(value, str):
        raise errors.Invalid(f"{name}: expected a string", field=name)
    return fields.agent_id(value, name)


def _with_acting(arguments: dict[str, Any], name: str, caller: Caller) -> dict[str, Any]:
    """A body whose `name` (agent_id, from_agent) defaults to the caller's agent."""
    if arguments.get(name) is None and caller.agent_id is not None:
        arguments[name] = caller.agent_id
    return arguments


def _note(arguments: dict[str, Any]) -> dict[str, Any]:
    """`text` as the context {"text": ...}."""
    text = arguments.pop("text", None)
    if text is not None:
        if arguments.get("context") is not None:
            raise errors.Invalid("text: give either text or context, not both", field="text")
        if not isinstance(text, str):
            raise errors.Invalid("text: expected a string", field="text")
        arguments["context"] = {"text": text}
    return arguments


def _idempotency_key(arguments: dict[str, Any]) -> str:
    key = arguments.pop("idempotency_key", None)
    if key is None:
        return f"mcp-{uuid.uuid4()}"
    if not isinstance(key, str) or not _PRINTABLE.match(key):
        raise errors.Invalid(
            "idempotency_key: must be 1-255 printable ASCII characters", field="idempotency_key"
        )
    return key


def _query(arguments: dict[str, Any]) -> dict[str, str]:
    """Arguments that become a query string (the API checks their values, as it does a URL's)."""
    params = {}
    for name, value in arguments.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise errors.Invalid(f"{name}: expected a number or a string", field=name)
        params[name] = str(value)
    return params


def _memory_id(arguments: dict[str, Any]) -> str:
    value = arguments.pop("memory_id", None)
    if value is None:
        raise errors.Invalid("memory_id: is required", field="memory_id")
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError, AttributeError):
        raise errors.Invalid("memory_id: must be a UUID", field="memory_id") from None


# -- the tools -------------------------------------------------------------------------------------


def _remember(arguments: dict[str, Any], caller: Caller) -> Request:
    key = _idempotency_key(arguments)
    body = _with_acting(_note(arguments), "agent_id", caller)
    return Request("POST", "/v1/memories", body=body, idempotency_key=key)


def _recall(arguments: dict[str, Any], caller: Caller) -> Request:
    return Request("POST", "/v1/memories/query", body=arguments)


def _forget(arguments: dict[str, Any], caller: Caller) -> Request:
    return Request("DELETE", f"/v1/memories/{_memory_id(arguments)}")


def _forgotten(answer: Answer, request: Request) -> dict[str, Any]:
    return {"deleted": True, "memory_id": request.path.rpartition("/")[2]}


def _share(arguments: dict[str, Any], caller: Caller) -> Request:
    key = _idempotency_key(arguments)
    body = _with_acting(_note(arguments), "from_agent", caller)
    return Request("POST", "/v1/messages", body=body, idempotency_key=key)


def _broadcast(arguments: dict[str, Any], caller: Caller) -> Request:
    key = _idempotency_key(arguments)
    body = _with_acting(_note(arguments), "from_agent", caller)
    return Request("POST", "/v1/messages/broadcast", body=body, idempotency_key=key)


def _inbox(arguments: dict[str, Any], caller: Caller) -> Request:
    agent = _acting(arguments, "agent_id", caller)
    return Request("GET", f"/v1/agents/{agent}/messages", params=_query(arguments))


def _ack(arguments: dict[str, Any], caller: Caller) -> Request:
    agent = _acting(arguments, "agent_id", caller)
    return Request("POST", f"/v1/agents/{agent}/messages/ack", body=arguments)


def _list_agents(arguments: dict[str, Any], caller: Caller) -> Request:
    return Request("GET", "/v1/agents", params=_query(arguments))


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool(
            "remember",
            "Remember",
            "Store a memory that every agent of the team can recall later: a fact, decision, "
            "preference, finding or result worth keeping (not chatter). Give the content as "
            "`text` (a plain note) or `context` (a JSON object, for structured data), with `tags` "
            "to find it by and an `importance` (0-1). Memories stay until `ttl_seconds` pass, "
            "if given. With `dedupe` nothing new is stored when the agent already holds a memory "
            "at least that similar in meaning. Returns the memory stored (its `id` is what "
            "`forget` takes), or with `duplicate_of` the near duplicate found instead.",
            _object(
                {
                    "agent_id": {**_AGENT, "description": f"Whose memory this is. {_ACTING}"},
                    "text": _NOTE,
                    "context": _CONTEXT,
                    "tags": {
                        **_TAGS,
                        "description": "Labels to recall it by (such as a customer, a topic).",
                    },
                    "importance": {
                        "type": "number",
                        "minimum": 0,
                        "maximum": 1,
                        "description": "0 (trivia) to 1 (critical); 0.5 by default.",
                    },
                    "ttl_seconds": {
                        **_TTL,
                        "description": "Forget it after this many seconds (1 s to 10 years); "
                        "none: kept until deleted.",
                    },
                    "expires_at": {
                        **_TIME,
                        "description": "Instead of ttl_seconds: RFC 3339 with an offset.",
                    },
                    "dedupe": {
                        "type": "object",
                        "properties": {"threshold": {"type": "number", "minimum": 0, "maximum": 1}},
                        "required": ["threshold"],
                        "additionalProperties": False,
                        "description": "Store only if no memory of the agent is at least "
                        "`threshold` similar in meaning (cosine, 0-1; 0.9 catches rewordings). "
                        "Needs the Brain's embedding model.",
                    },
                    "idempotency_key": _IDEMPOTENCY_KEY,
                }
            ),
            MEMORY,
            _remember,
        ),
        Tool(
            "recall",
            "Recall",
            "Search the team's memories (every agent's, unless `agent_id` or `agent_ids` narrow "
            "it). Use it before working on something, to learn what is already known. Find by "
            "meaning with `semantic` (a question or description: the best matches first, each "
            'with a `score`), by words with `text` (full-text search: words, "a phrase", '
            "-excluded), or both (hybrid ranking); filter by `tags` (`match`: any or all), "
            "`min_importance`, and the time stored (`since` inclusive, `until` exclusive). "
            "Without a search, the newest come first (`order`: recent or importance). Returns "
            "`items` (memories) and `next_cursor`: pass it back as `cursor` with the same other "
            "arguments for more.",
            _object(
                {
                    "semantic": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": fields.MAX_TEXT_CHARS,
                        "description": "What to find, by meaning; needs the Brain's embedding "
                        "model.",
                    },
                    "text": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": fields.MAX_TEXT_CHARS,
                        "description": 'Words to find (English stemming): words, "a phrase", -not.',
                    },
                    "tags": {**_TAGS, "description": "Memories with these tags."},
                    "match": {
                        "type": "string",
                        "enum": ["any", "all"],
                        "description": "any (the default): at least one of the tags; all: every "
                        "one.",
                    },
                    "agent_id": {**_AGENT, "description": "Only this agent's memories."},
                    "agent_ids": {
                        "type": "array",
                        "items": _AGENT,
                        "minItems": 1,
                        "maxItems": fields.MAX_AGENT_FILTER,
                        "description": "Only these agents' memories (instead of agent_id).",
                    },
                    "min_importance": {"type": "number", "minimum": 0, "maximum": 1},
                    "since": {**_TIME, "description": "Stored at or after (RFC 3339, offset)."},
                    "until": {**_TIME, "description": "Stored before (RFC 3339, offset)."},
                    "min_score": {
                        "type": "number",
                        "minimum": -1,
                        "maximum": 1,
                        "description": "With semantic: drop weaker matches.",
                    },
                    "order": {
                        "type": "string",
                        "enum": ["recent", "importance", "relevance"],
                        "description": "recent (the default) or importance; searches by meaning "
                        "are by relevance.",
                    },
                    "limit": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": fields.MAX_PAGE,
                        "description": "Memories per page (20 by default).",
                    },
                    "cursor": _CURSOR,
                }
            ),
            _page(MEMORY),
            _recall,
            read_only=True,
            idempotent=True,
        ),
        Tool(
            "forget",
            "Forget",
            "Delete one memory by its `id` (from `remember` or `recall`), such as one found to "
            "be wrong or obsolete; it is gone for every agent at once. An agent-bound key deletes "
            "its own agent's memories only. Returns {deleted: true, memory_id}.",
            _object({"memory_id": {**_UUID, "description": "The memory's `id`."}}, ("memory_id",)),
            _object({"deleted": {"type": "boolean"}, "memory_id": _UUID}, ("deleted", "memory_id")),
            _forget,
            _forgotten,
            destructive=True,
            idempotent=True,
        ),
        Tool(
            "share",
            "Send a message",
            "Send a message to one other agent (`to_agent`, see `list_agents`): a hand-off, a "
            "question, a result it waits for. It is delivered at least once, until the recipient "
            "acknowledges it (`inbox`, then `ack`). For what every agent should know later, use "
            "`remember`; to tell all agents now, `broadcast`. Both agents must be registered. "
            "Returns the message sent.",
            _object(
                {
                    **_SENT,
                    "to_agent": {**_AGENT, "description": "The recipient's agent id."},
                },
                ("to_agent",),
            ),
            MESSAGE,
            _share,
        ),
        Tool(
            "broadcast",
            "Broadcast a message",
            "Send a message to every registered agent but the sender: an announcement, a change "
            "that concerns everyone. Each agent receives it in its `inbox` and acknowledges it "
            "with `ack`. For one agent use `share`. Returns the message sent (`to_agent` null).",
            _object(_SENT),
            MESSAGE,
            _broadcast,
        ),
        Tool(
            "inbox",
            "Take messages",
            "Take the messages sent to an agent (direct and broadcast): urgent first, then oldest "
            "first. Each one taken is leased to you: `ack` its `id` once handled, or it is "
            "delivered again after the visibility timeout (30 s by default; `delivery_count` then "
            "says how often). `wait` waits up to that many seconds for a message when none is "
            "there. Returns `items` (maybe none).",
            _object(
                {
                    "agent_id": {**_AGENT, "description": f"Whose inbox. {_ACTING}"},
                    "limit": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_PENDING,
                        "description": "At most this many messages (10 by default).",
                    },
                    "wait": {
                        "type": "number",
                        "minimum": 0,
                        "maximum": MAX_WAIT_SECONDS,
                        "description": "Seconds to wait for a message when none is there (0-30; "
                        "0 by default: answer at once).",
                    },
                    "consumer": {
                        **_AGENT,
                        "description": "Replicas of one agent taking together use names of their "
                        "own (each message goes to one of them); `default` by default.",
                    },
                }
            ),
            _object({"items": {"type": "array", "items": MESSAGE}}, ("items",)),
            _inbox,
        ),
        Tool(
            "ack",
            "Acknowledge messages",
            "Acknowledge messages taken with `inbox` once they are handled, by their `id`s: they "
            "are not delivered again. Acknowledging one twice is harmless. Returns {acked: n}, "
            "how many of the ids are messages addressed to the agent.",
            _object(
                {
                    "agent_id": {**_AGENT, "description": f"Whose inbox. {_ACTING}"},
                    "ids": {
                        "type": "array",
                        "items": _UUID,
                        "minItems": 1,
                        "maxItems": MAX_ACK_IDS,
                        "description": "The messages' ids.",
                    },
                },
                ("ids",),
            ),
            _object({"acked": {"type": "integer"}}, ("acked",)),
            _ack,
            idempotent=True,
        ),
        Tool(
            "list_agents",
            "List agents",
            "List the registered agents of the team (by id, with name, role, capabilities and "
            "metadata): who can be sent a message, whose memories to recall. Returns `items` and "
            "`next_cursor` (pass it back as `cursor` for more).",
            _object(
                {
                    "limit": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": fields.MAX_PAGE,
                        "description": "Agents per page (500 by default).",
                    },
                    "cursor": {"type": "string", "description": "`next_cursor` of the last page."},
                }
            ),
            _page(AGENT),
            _list_agents,
            read_only=True,
            idempotent=True,
        ),
    )
}
DEFINITIONS = [tool.definition() for tool in TOOLS.values()]


# -- calling ---------------------------------------------------------------------------------------


def _failure(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def _problem(answer: Answer) -> str:
    """The message of the API's problem details: `<status>: <detail> (field a, b)`."""
    detail, named = "", []
    try:
        body = msgspec.json.decode(answer.body)
    except msgspec.DecodeError:
        body = None
    if isinstance(body, dict):
        detail = str(body.get("detail") or body.get("title") or "")
        for error in body.get("errors") or ():
            if isinstance(error, dict) and error.get("field"):
                named.append(str(error["field"]))
    message = f"{answer.status}: {detail or answer.body[:200].decode(errors='replace')}"
    if named:
        message += f" (field {', '.join(named)})"
    retry = answer.headers.get("retry-after")
    if retry and answer.status in (429, 503):
        message += f" (retry after {retry} s)"
    return message


def error_message(exc: errors.BrainError) -> str:
    """The message of an error raised here, as of the API's: `<status>: <detail> (field x)`."""
    text = f"{exc.status}: {exc.detail}"
    return f"{text} (field {exc.field})" if exc.field else text


async def _send(backend: Backend, caller: Caller, request: Request) -> Answer:
    """The answer, after up to ATTEMPTS tries while Brain answers 503 or cannot be reached."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            answer = await backend.send(caller, request)
        except Unreachable:
            if attempt == ATTEMPTS:
                raise
            await asyncio.sleep(MAX_RETRY_WAIT / 2)
            continue
        if answer.status != 503 or attempt == ATTEMPTS:
            return answer
        try:
            wait = float(answer.headers.get("retry-after", "1"))
        except ValueError:
            wait = 1.0
        await asyncio.sleep(min(max(wait, 0.0), MAX_RETRY_WAIT))
    raise AssertionError("unreachable")  # pragma: no cover


async def call(
    backend: Backend, caller: Caller, name: str, arguments: dict[str, Any] | None
) -> types.CallToolResult:
    """Call tool `name`: its structured result, or a tool error (never an exception, but for an
    unknown tool, which is a protocol error)."""
    tool = TOOLS.get(name)
    if tool is None:
        raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {name}")
    given = dict(arguments or {})
    allowed = tool.input_schema["properties"]
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        listed = ", ".join(unknown)
        return _failure(
            f"422: {listed}: not an argument of {name} (it takes {', '.join(allowed)})"
            f" (field {listed})"
        )
    try:
        request = tool.build(given, caller)
        answer = await _send(backend, caller, request)
    except errors.BrainError as exc:
        return _failure(error_message(exc))
    except Unreachable as exc:
        return _failure(f"503: {exc}")
    if answer.status >= 400:
        return _failure(_problem(answer))
    if tool.shape is not None:
        result = tool.shape(answer, request)
        text = msgspec.json.encode(result).decode()
    else:
        result = msgspec.json.decode(answer.body)
        text = answer.body.decode()
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=result)


def server(backend: Backend, version: str) -> Server[Any]:
    """The MCP server of the tools, over `backend`."""

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=DEFINITIONS)

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        try:
            return await call(backend, backend.caller(ctx), params.name, params.arguments)
        except MCPError:
            raise
        except Exception:
            log.exception("tool %s failed", params.name)
            return _failure("500: the tool failed unexpectedly; see the service's log")

    def input_schema(name: str) -> Mapping[str, Any] | None:
        tool = TOOLS.get(name)
        return tool.input_schema if tool is not None else None

    return Server(
        "brain",
        version=version,
        title="Brain",
        description="Shared memory and message bus for AI agents",
        instructions=INSTRUCTIONS,
        get_tool_input_schema=input_schema,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
