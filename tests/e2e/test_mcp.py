"""The MCP server against a real `brain serve`, driven by the official MCP client: /mcp over
Streamable HTTP (both protocol eras) and `brain mcp` over stdio. Every tool, an error of each,
credentials refused before any MCP exchange, agent-bound keys acting as their agent, and two
agents exchanging a message through MCP tools only.

One service for the module (with the local embedding model, so that recall by meaning and dedupe
work): each test works with agents, tags or workspaces of its own."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession, types
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from brain import embedded
from tests.support import databases
from tests.support.api import AUTH, TOKEN, repo_root, service_env
from tests.support.service import Service

TOOLS = {"remember", "recall", "forget", "share", "broadcast", "inbox", "ack", "list_agents"}
WRITER = ["memories:read", "memories:write", "messages:read", "messages:write", "agents:read"]


@pytest.fixture(scope="module")
def brain(
    pg_server: embedded.Postgres,
    redis_server: embedded.Redis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    """`brain serve` with the local model, over a database of this module's own."""
    name = databases.fresh(pg_server)
    env = {**service_env(pg_server.url(name), redis_server.url()), "BRAIN_EMBEDDINGS": "local"}
    log = tmp_path_factory.mktemp("mcp") / "serve.log"
    running = Service(env, log=log).start(timeout=120)
    yield running
    assert running.stop() == 0


@pytest.fixture
def admin(brain: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=brain.url, headers=AUTH, timeout=30) as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def register(admin: httpx.Client, *agents: str, workspace: str | None = None) -> None:
    headers = {"X-Brain-Workspace": workspace} if workspace else {}
    for agent in agents:
        response = admin.put(f"/v1/agents/{agent}", json={"name": agent}, headers=headers)
        assert response.status_code in (200, 201), response.text


def api_key(admin: httpx.Client, workspace: str, agent_id: str | None, scopes: list[str]) -> str:
    body: dict[str, Any] = {"name": f"key of {agent_id}", "scopes": scopes}
    if agent_id is not None:
        body["agent_id"] = agent_id
    response = admin.post(f"/v1/workspaces/{workspace}/keys", json=body)
    assert response.status_code == 201, response.text
    secret: str = response.json()["secret"]
    return secret


def new_workspace(admin: httpx.Client) -> str:
    workspace = unique("mcp")
    response = admin.post("/v1/workspaces", json={"id": workspace})
    assert response.status_code == 201, response.text
    return workspace


@contextlib.asynccontextmanager
async def session(
    brain: Service, token: str = TOKEN, workspace: str | None = None, *, modern: bool = False
) -> AsyncIterator[ClientSession]:
    """An initialized MCP session over Streamable HTTP (`modern`: the 2026-07-28 era, by
    server/discover; else the initialize handshake)."""
    headers = {"Authorization": f"Bearer {token}"}
    if workspace is not None:
        headers["X-Brain-Workspace"] = workspace
    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(f"{brain.url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as mcp,
    ):
        if modern:
            await mcp.discover()
        else:
            await mcp.initialize()
        yield mcp


def ok(result: types.CallToolResult) -> Any:
    """The structured result of a call that succeeded (its text content says the same)."""
    assert not result.is_error, result.content
    assert result.structured_content is not None
    text = result.content[0]
    assert isinstance(text, types.TextContent)
    assert json.loads(text.text) == result.structured_content
    return result.structured_content


def failed(result: types.CallToolResult) -> str:
    """The message of a tool error."""
    assert result.is_error, result.structured_content
    text = result.content[0]
    assert isinstance(text, types.TextContent)
    return text.text


# -- tools over Streamable HTTP --------------------------------------------------------------------


async def test_the_tools_are_listed_with_their_input_and_output_schemas(brain: Service) -> None:
    async with session(brain) as mcp:
        listed = {tool.name: tool for tool in (await mcp.list_tools()).tools}
        assert set(listed) == TOOLS
        for tool in listed.values():
            assert tool.description and len(tool.description) > 80, tool.name
            assert tool.input_schema["type"] == "object"
            assert tool.input_schema["additionalProperties"] is False
            assert tool.output_schema is not None and tool.output_schema["type"] == "object"
        remember = listed["remember"].input_schema["properties"]
        assert {
            "agent_id",
            "text",
            "context",
            "tags",
            "importance",
            "ttl_seconds",
            "dedupe",
        } <= set(remember)
        assert remember["importance"]["maximum"] == 1
        recall = listed["recall"].input_schema["properties"]
        assert {
            "text",
            "semantic",
            "tags",
            "match",
            "agent_id",
            "agent_ids",
            "min_importance",
        } <= set(recall)
        assert {"since", "until", "limit", "cursor"} <= set(recall)
        assert listed["forget"].input_schema["required"] == ["memory_id"]
        assert listed["share"].input_schema["required"] == ["to_agent"]
        assert set(listed["inbox"].input_schema["properties"]) == {
            "agent_id", "limit", "wait", "consumer"
        }  # fmt: skip
        assert listed["ack"].input_schema["required"] == ["ids"]
        assert listed["recall"].annotations is not None
        assert listed["recall"].annotations.read_only_hint is True
        assert listed["forget"].annotations is not None
        assert listed["forget"].annotations.destructive_hint is True


async def test_remember_recall_and_forget(brain: Service) -> None:
    agent, tag = unique("scout"), unique("acme")
    async with session(brain) as mcp:
        stored = ok(
            await mcp.call_tool(
                "remember",
                {
                    "agent_id": agent, "text": "Acme prefers email, never calls before 10:00",
                    "tags": [tag, "contact"], "importance": 0.8, "ttl_seconds": 3600,
                },
            )
        )  # fmt: skip
        assert stored["agent_id"] == agent
        assert stored["context"] == {"text": "Acme prefers email, never calls before 10:00"}
        assert stored["tags"] == [tag, "contact"] and stored["importance"] == 0.8
        assert stored["expires_at"] is not None
        second = ok(
            await mcp.call_tool(
                "remember",
                {
                    "agent_id": agent,
                    "context": {"customer": "Acme", "renews": "March"},
                    "tags": [tag],
                },
            )
        )
        # by tags, newest first, paged with the cursor
        page = ok(await mcp.call_tool("recall", {"tags": [tag], "limit": 1}))
        assert [m["id"] for m in page["items"]] == [second["id"]]
        assert page["next_cursor"]
        rest = ok(
            await mcp.call_tool(
                "recall", {"tags": [tag], "limit": 1, "cursor": page["next_cursor"]}
            )
        )
        assert [m["id"] for m in rest["items"]] == [stored["id"]]
        # by words, and by meaning (no word shared): ranked, with scores
        words = ok(await mcp.call_tool("recall", {"text": "email", "agent_id": agent}))
        assert [m["id"] for m in words["items"]] == [stored["id"]]
        meaning = ok(
            await mcp.call_tool(
                "recall", {"semantic": "how does Acme like to be contacted?", "agent_ids": [agent]}
            )
        )
        assert meaning["items"][0]["id"] == stored["id"]
        assert all(isinstance(m["score"], float) for m in meaning["items"])
        # a near duplicate is not stored again
        again = ok(
            await mcp.call_tool(
                "remember",
                {
                    "agent_id": agent, "text": "Acme prefers email, never calls before 10:00",
                    "dedupe": {"threshold": 0.95},
                },
            )
        )  # fmt: skip
        assert again["duplicate_of"] == stored["id"]
        gone = ok(await mcp.call_tool("forget", {"memory_id": stored["id"]}))
        assert gone == {"deleted": True, "memory_id": stored["id"]}
        after = ok(await mcp.call_tool("recall", {"tags": [tag]}))
        assert [m["id"] for m in after["items"]] == [second["id"]]


async def test_each_tool_answers_errors_as_tool_errors_naming_the_field(
    brain: Service, admin: httpx.Client
) -> None:
    agent = unique("erring")
    register(admin, agent)
    async with session(brain) as mcp:
        remember = {"agent_id": agent, "text": "x", "importance": 2}
        message = failed(await mcp.call_tool("remember", remember))
        assert message.startswith("422: ") and message.endswith("(field importance)"), message
        assert "importance" in message and "<= 1" in message
        both = failed(
            await mcp.call_tool("remember", {"agent_id": agent, "text": "x", "context": {}})
        )
        assert both == "422: text: give either text or context, not both (field text)"
        unknown = failed(
            await mcp.call_tool("remember", {"agent_id": agent, "text": "x", "colour": 1})
        )
        assert unknown.startswith("422: colour: not an argument of remember"), unknown
        assert failed(await mcp.call_tool("recall", {"limit": 0})).endswith("(field limit)")
        stop_words = failed(await mcp.call_tool("recall", {"text": "the and"}))
        assert stop_words.startswith("422: ") and stop_words.endswith("(field text)")
        not_uuid = failed(await mcp.call_tool("forget", {"memory_id": "nope"}))
        assert not_uuid == "422: memory_id: must be a UUID (field memory_id)"
        absent = failed(await mcp.call_tool("forget", {"memory_id": str(uuid.uuid4())}))
        assert absent.startswith("404: "), absent
        nobody = unique("nobody")
        share = {"from_agent": agent, "to_agent": nobody, "text": "hello?"}
        unknown_agent = failed(await mcp.call_tool("share", share))
        assert unknown_agent.startswith("404: ") and nobody in unknown_agent, unknown_agent
        loud = {"from_agent": agent, "text": "all hands", "priority": "loud"}
        assert failed(await mcp.call_tool("broadcast", loud)).endswith("(field priority)")
        assert failed(await mcp.call_tool("inbox", {"agent_id": agent, "wait": 31})).endswith(
            "(field wait)"
        )
        no_agent = failed(await mcp.call_tool("inbox", {}))
        assert no_agent.startswith("422: agent_id: is required"), no_agent
        bad_path = failed(await mcp.call_tool("inbox", {"agent_id": "a/../b"}))
        assert bad_path.startswith("422: agent_id must be"), bad_path
        ack = failed(await mcp.call_tool("ack", {"agent_id": agent, "ids": ["x"]}))
        assert ack.startswith("422: ") and "ids[0]" in ack, ack
        assert failed(await mcp.call_tool("list_agents", {"limit": 0})).endswith("(field limit)")
        with pytest.raises(MCPError, match="Unknown tool"):
            await mcp.call_tool("teleport", {})
        # the session lives on after every error
        assert ok(await mcp.call_tool("list_agents", {"limit": 1}))["items"]


async def test_share_broadcast_inbox_ack_and_list_agents(
    brain: Service, admin: httpx.Client
) -> None:
    workspace = new_workspace(admin)
    register(admin, "lead", "sales", "support", workspace=workspace)
    async with session(brain, workspace=workspace) as mcp:
        agents = ok(await mcp.call_tool("list_agents", {"limit": 2}))
        assert [a["id"] for a in agents["items"]] == ["lead", "sales"]
        more = ok(await mcp.call_tool("list_agents", {"cursor": agents["next_cursor"]}))
        assert [a["id"] for a in more["items"]] == ["support"] and more["next_cursor"] is None
        direct = ok(
            await mcp.call_tool(
                "share",
                {
                    "from_agent": "lead",
                    "to_agent": "sales",
                    "context": {"ticket": 7},
                    "priority": "high",
                },
            )
        )
        assert direct["to_agent"] == "sales" and direct["priority"] == "high"
        everyone = ok(await mcp.call_tool("broadcast", {"from_agent": "lead", "text": "standup"}))
        assert everyone["to_agent"] is None
        taken = ok(await mcp.call_tool("inbox", {"agent_id": "sales", "limit": 10}))
        assert [m["id"] for m in taken["items"]] == [direct["id"], everyone["id"]]
        assert all(m["delivery_count"] == 1 for m in taken["items"])
        acked = ok(await mcp.call_tool("ack", {"agent_id": "sales", "ids": [direct["id"]]}))
        assert acked == {"acked": 1}
        support = ok(await mcp.call_tool("inbox", {"agent_id": "support", "wait": 1}))
        assert [m["context"] for m in support["items"]] == [{"text": "standup"}]


async def test_the_2026_protocol_era_is_served_too(brain: Service) -> None:
    agent = unique("modern")
    async with session(brain, modern=True) as mcp:
        assert {tool.name for tool in (await mcp.list_tools()).tools} == TOOLS
        stored = ok(await mcp.call_tool("remember", {"agent_id": agent, "text": "by discover"}))
        found = ok(await mcp.call_tool("recall", {"agent_id": agent}))
        assert [m["id"] for m in found["items"]] == [stored["id"]]
        assert failed(await mcp.call_tool("recall", {"limit": 0})).endswith("(field limit)")


# -- credentials -----------------------------------------------------------------------------------

INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
}  # fmt: skip
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer nope", f"Bearer brk_default_{'x' * 40}", "Basic dGVzdDp0ZXN0"],
    ids=["none", "wrong", "unknown key", "not bearer"],
)
def test_a_request_without_a_valid_credential_is_401_before_any_mcp_exchange(
    brain: Service, authorization: str | None
) -> None:
    headers = {**MCP_HEADERS, **({"Authorization": authorization} if authorization else {})}
    response = httpx.post(f"{brain.url}/mcp", json=INITIALIZE, headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="brain"'
    assert "mcp-session-id" not in response.headers
    assert response.headers["content-type"] == "application/json"  # a JSON-RPC error, as MCP's
    error = response.json()["error"]
    assert error["message"].startswith("401: ")
    problem = error["data"]
    assert problem["title"] == "Unauthorized" and problem["status"] == 401
    assert problem["instance"] == "/mcp" and error["message"] == f"401: {problem['detail']}"


async def test_the_mcp_client_is_refused_with_a_wrong_key(brain: Service) -> None:
    with pytest.raises(ExceptionGroup) as refused:  # the client's task groups wrap its error
        async with session(brain, token=f"brk_default_{'y' * 40}"):
            pass
    matched, _ = refused.value.split(MCPError)
    assert matched is not None
    error = matched.exceptions[0]
    while isinstance(error, ExceptionGroup):
        error = error.exceptions[0]
    assert isinstance(error, MCPError)
    assert error.message == "401: the API key is not valid: unknown, revoked or expired"


def test_the_endpoint_is_stateless_and_outside_the_openapi_document(brain: Service) -> None:
    headers = {**MCP_HEADERS, **AUTH}
    answer = httpx.post(f"{brain.url}/mcp", json=INITIALIZE, headers=headers, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert "mcp-session-id" not in answer.headers
    assert answer.json()["result"]["serverInfo"]["name"] == "brain"
    for method in ("GET", "DELETE"):
        refused = httpx.request(method, f"{brain.url}/mcp", headers=headers, timeout=10)
        assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    unknown_workspace = {**headers, "X-Brain-Workspace": unique("nowhere")}
    assert (
        httpx.post(f"{brain.url}/mcp", json=INITIALIZE, headers=unknown_workspace).status_code
        == 404
    )
    document = httpx.get(f"{brain.url}/schema/openapi.json", timeout=10).json()
    assert not [path for path in document["paths"] if path.startswith("/mcp")]


async def test_an_agent_bound_key_makes_every_tool_act_as_its_agent(
    brain: Service, admin: httpx.Client
) -> None:
    workspace = new_workspace(admin)
    register(admin, "sales", "support", workspace=workspace)
    secret = api_key(admin, workspace, "sales", WRITER)
    async with session(brain, token=secret) as mcp:
        mine = ok(await mcp.call_tool("remember", {"text": "Acme renews in March"}))
        assert mine["agent_id"] == "sales"
        other = failed(await mcp.call_tool("remember", {"agent_id": "support", "text": "x"}))
        assert other.startswith("403: ") and other.endswith("(field agent_id)"), other
        sent = ok(await mcp.call_tool("share", {"to_agent": "support", "text": "call Acme"}))
        assert sent["from_agent"] == "sales"
        spoofed = failed(await mcp.call_tool("broadcast", {"from_agent": "support", "text": "x"}))
        assert spoofed.startswith("403: ") and spoofed.endswith("(field from_agent)"), spoofed
        theirs = failed(await mcp.call_tool("inbox", {"agent_id": "support"}))
        assert theirs.startswith("403: "), theirs
        assert ok(await mcp.call_tool("inbox", {}))["items"] == []
        # it reads the whole workspace's memories; the scope it lacks is the API's 403
        assert [m["id"] for m in ok(await mcp.call_tool("recall", {}))["items"]] == [mine["id"]]
        assert ok(await mcp.call_tool("list_agents", {}))["items"]
    reader = api_key(admin, workspace, None, ["memories:read"])
    async with session(brain, token=reader) as mcp:
        lacking = failed(await mcp.call_tool("list_agents", {}))
        assert lacking.startswith("403: ") and "agents:read" in lacking, lacking
        assert ok(await mcp.call_tool("recall", {}))["items"]


async def test_two_agents_exchange_a_message_through_mcp_tools_only(
    brain: Service, admin: httpx.Client
) -> None:
    workspace = new_workspace(admin)
    register(admin, "planner", "coder", workspace=workspace)
    planner = api_key(admin, workspace, "planner", WRITER)
    coder = api_key(admin, workspace, "coder", WRITER)
    async with session(brain, token=planner) as one, session(brain, token=coder) as two:
        sent = ok(
            await one.call_tool(
                "share",
                {"to_agent": "coder", "context": {"task": "fix the login"}, "priority": "urgent"},
            )
        )
        taken = ok(await two.call_tool("inbox", {"wait": 5}))
        assert [m["id"] for m in taken["items"]] == [sent["id"]]
        assert taken["items"][0]["from_agent"] == "planner"
        assert taken["items"][0]["context"] == {"task": "fix the login"}
        assert ok(await two.call_tool("ack", {"ids": [sent["id"]]})) == {"acked": 1}
        reply = ok(await two.call_tool("share", {"to_agent": "planner", "text": "done"}))
        back = ok(await one.call_tool("inbox", {"wait": 5}))
        assert [m["id"] for m in back["items"]] == [reply["id"]]
        assert ok(await one.call_tool("ack", {"ids": [reply["id"]]})) == {"acked": 1}
        assert ok(await two.call_tool("inbox", {}))["items"] == []  # acknowledged: not again


async def test_a_retried_write_with_the_same_idempotency_key_stores_once(brain: Service) -> None:
    agent, key = unique("retry"), unique("key")
    async with session(brain) as mcp:
        args = {"agent_id": agent, "text": "once", "idempotency_key": key}
        first = ok(await mcp.call_tool("remember", args))
        again = ok(await mcp.call_tool("remember", args))
        assert again["id"] == first["id"]
        found = ok(await mcp.call_tool("recall", {"agent_id": agent}))
        assert [m["id"] for m in found["items"]] == [first["id"]]
        changed = failed(await mcp.call_tool("remember", {**args, "text": "twice"}))
        assert changed.startswith("409: "), changed


# -- stdio: brain mcp ------------------------------------------------------------------------------


def stdio(url: str, token: str | None, *args: str) -> StdioServerParameters:
    env = {"BRAIN_URL": url}
    if token is not None:
        env["BRAIN_TOKEN"] = token
    return StdioServerParameters(
        command=sys.executable, args=["-m", "brain", "mcp", *args], env=env, cwd=repo_root()
    )


@contextlib.asynccontextmanager
async def stdio_session(
    params: StdioServerParameters, errlog: Path
) -> AsyncIterator[ClientSession]:
    with errlog.open("w") as err:
        async with (
            stdio_client(params, errlog=err) as (read, write),
            ClientSession(read, write) as mcp,
        ):
            await mcp.initialize()
            yield mcp


async def test_brain_mcp_over_stdio_forwards_each_tool_to_brain(
    brain: Service, admin: httpx.Client, tmp_path: Path
) -> None:
    workspace = new_workspace(admin)
    register(admin, "desk", "helper", workspace=workspace)
    secret = api_key(admin, workspace, "desk", WRITER)
    params = stdio(brain.url, secret, "--agent", "desk")
    async with stdio_session(params, tmp_path / "mcp.log") as mcp:
        assert {tool.name for tool in (await mcp.list_tools()).tools} == TOOLS
        stored = ok(await mcp.call_tool("remember", {"text": "from the desktop", "tags": ["desk"]}))
        assert stored["agent_id"] == "desk"  # --agent, the key's (the API checks it)
        found = ok(await mcp.call_tool("recall", {"tags": ["desk"]}))
        assert [m["id"] for m in found["items"]] == [stored["id"]]
        sent = ok(await mcp.call_tool("share", {"to_agent": "helper", "text": "ping"}))
        assert sent["from_agent"] == "desk"
        refused = failed(await mcp.call_tool("remember", {"text": "x", "importance": -1}))
        assert refused.startswith("422: ") and refused.endswith("(field importance)")
        assert failed(await mcp.call_tool("inbox", {"agent_id": "helper"})).startswith("403: ")
        assert ok(await mcp.call_tool("forget", {"memory_id": stored["id"]}))["deleted"] is True
    # without --agent, `brain mcp` cannot know the key's agent: calls name it
    async with stdio_session(stdio(brain.url, secret), tmp_path / "mcp-2.log") as mcp:
        unnamed = failed(await mcp.call_tool("remember", {"text": "x"}))
        assert unnamed == "422: agent_id: is required (field agent_id)"
        named = ok(await mcp.call_tool("remember", {"agent_id": "desk", "text": "named"}))
        assert named["agent_id"] == "desk"


async def test_brain_mcp_with_the_admin_token_a_workspace_and_an_agent(
    brain: Service, admin: httpx.Client, tmp_path: Path
) -> None:
    workspace = new_workspace(admin)
    register(admin, "ops", workspace=workspace)
    params = stdio(brain.url, TOKEN, "--workspace", workspace, "--agent", "ops")
    async with stdio_session(params, tmp_path / "mcp.log") as mcp:
        stored = ok(await mcp.call_tool("remember", {"text": "in the workspace"}))
        assert stored["agent_id"] == "ops"
        agents = ok(await mcp.call_tool("list_agents", {}))
        assert [a["id"] for a in agents["items"]] == ["ops"]  # that workspace's only
        assert ok(await mcp.call_tool("inbox", {}))["items"] == []


async def test_brain_mcp_reports_an_unreachable_brain_as_a_tool_error(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{embedded.free_port()}"
    async with stdio_session(stdio(closed, TOKEN), tmp_path / "mcp.log") as mcp:
        message = failed(await mcp.call_tool("recall", {}))
        assert message.startswith(f"503: Brain at {closed} did not answer"), message
        assert {tool.name for tool in (await mcp.list_tools()).tools} == TOOLS  # still serving


def test_brain_mcp_needs_a_token() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BRAIN_TOKEN", "BRAIN_ADMIN_TOKEN")}
    done = subprocess.run(
        [sys.executable, "-m", "brain", "mcp"], env=env, cwd=repo_root(), input=b"",
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert b"BRAIN_TOKEN" in done.stderr and done.stdout == b""
