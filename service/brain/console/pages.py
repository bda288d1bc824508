"""The console's pages: each one a few API calls made with the visitor's credential, and a
template. Forms post back here (with the session's CSRF token), are turned into API bodies
(`forms`), and either redirect to the page they came from (done) or show it again with the
API's errors next to their fields (nothing was stored)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, ServerSentEvent, ServerSentEventMessage, Template

from brain.console import forms
from brain.console.forms import Errors
from brain.console.session import CSRF_FIELD, Session
from brain.console.visit import (
    Console,
    SignIn,
    Visit,
    check_form,
    cookie,
    identify,
    query_string,
)
from brain.kit import auth, errors, http, loopback

Visitor = NamedDependency[Visit]
CONSUMER = "console"
"""The consumer the inbox panel takes an agent's messages as (README: Console)."""
PAGE = 20
AGENTS_PAGE = 100
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")
"""What a datetime-local input sends (no zone: taken as UTC)."""


def _done(path: str, **params: str) -> Redirect:
    query = query_string({}, **params)
    return Redirect(f"{path}?{query}" if query else path, status_code=303)


def _items(answer: loopback.Answer) -> tuple[list[Any], str | None]:
    if answer.status != 200:
        return [], None
    body = answer.json()
    return body.get("items", []), body.get("next_cursor")


def _time(raw: str, name: str, errs: Errors) -> str | None:
    """A form's time as RFC 3339: a datetime-local value is UTC; RFC 3339 passes as it is."""
    if not raw:
        return None
    if _TIME.match(raw):
        return raw + (":00" if raw.count(":") == 1 else "") + "Z"
    try:
        dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        errs.add(name, f"{name}: {raw!r} is not a time such as 2026-12-01T09:30")
        return None
    return raw


# -- signing in and out ---------------------------------------------------------------------------


def _login_page(
    request: Request[Any, Any, Any],
    found: Session,
    status: int = 200,
    **context: Any,
) -> Template:
    return Template(
        template_name="login.html",
        context={"csrf": found.csrf, "visit": None, **context},
        status_code=status,
        cookies=[cookie(request, found)],
    )


@get("/login", name="console:login", include_in_schema=False)
async def login_form(
    request: Request[Any, Any, Any],
    next: Annotated[str, QueryParameter(max_length=2048)] = "/console",
) -> Template:
    console: Console = request.app.state.console
    found = console.session_of(request) or console.need_sessions().new()
    reason = request.query_params.get("reason")
    return _login_page(request, found, next=_safe_next(next), reason=reason, errors=Errors())


def _safe_next(value: str) -> str:
    """Only a console page: never another site (an open redirect)."""
    return value if value.startswith("/console") and not value.startswith("//") else "/console"


@post("/login", include_in_schema=False)
async def login(request: Request[Any, Any, Any]) -> Response[Any]:
    console: Console = request.app.state.console
    sessions = console.need_sessions()
    found = console.session_of(request)
    if found is None:  # no cookie (it expired, or cookies are off): a fresh form
        return _login_page(request, sessions.new(), 403, next="/console", errors=Errors(
            general="your session expired before you signed in: try again"))  # fmt: skip
    await check_form(request, found)
    form = await request.form()
    token = forms.text(form, "token")
    workspace = forms.text(form, "workspace") or None
    next_path = _safe_next(forms.text(form, "next") or "/console")
    errs = Errors()
    if not token:
        errs.add("token", "token: enter the admin token or an API key")
    else:
        headers = {"authorization": f"Bearer {token}"}
        if workspace:
            headers[auth.WORKSPACE_HEADER] = workspace
        try:
            principal = await identify(request, headers)
        except errors.Unauthorized as exc:
            errs.add("token", f"token: {exc.detail}")
        except (errors.NotFound, errors.Forbidden, errors.Invalid) as exc:
            errs.add("workspace", f"workspace: {exc.detail}")
        else:
            chosen = workspace if principal.is_admin_token else None
            signed = sessions.signed_in(token, chosen)
            return Redirect(next_path, status_code=303, cookies=[cookie(request, signed)])
    return _login_page(request, found, 401 if "token" in errs.fields else 422,
                       next=next_path, errors=errs, workspace=workspace or "")  # fmt: skip


@post("/logout", include_in_schema=False)
async def logout(request: Request[Any, Any, Any], visit: Visitor) -> Redirect:
    return Redirect("/console/login", status_code=303, cookies=[cookie(request, None)])


# -- overview ---------------------------------------------------------------------------------


@get("/", name="console:overview", include_in_schema=False)
async def overview(visit: Visitor) -> Template:
    stats = await visit.call("GET", "/v1/stats") if visit.can("admin") else None
    ready = await visit.call("GET", "/health/ready")
    refused = stats is not None and stats.status != 200
    return visit.page(
        "overview.html",
        stats=stats.json() if stats is not None and not refused else None,
        stats_error=forms.problem(stats).general if stats is not None and refused else None,
        ready=ready.json() if ready.body else {},
        ready_ok=ready.status == 200,
    )  # fmt: skip


# -- agents ---------------------------------------------------------------------------------------


@get("/agents", name="console:agents", include_in_schema=False)
async def agents_page(
    visit: Visitor, cursor: Annotated[str | None, QueryParameter(max_length=1024)] = None
) -> Template:
    return await _agents(visit, cursor, Errors(), {})


async def _agents(
    visit: Visitor, cursor: str | None, errs: Errors, values: dict[str, Any], status: int = 200
) -> Template:
    listed = await visit.call("GET", "/v1/agents", params={"limit": AGENTS_PAGE, "cursor": cursor})
    items, next_cursor = _items(listed)
    return visit.page(
        "agents.html", status, agents=items, next_cursor=next_cursor,
        list_error=forms.problem(listed).general if listed.status != 200 else None,
        errors=errs, values=values, done=visit.request.query_params.get("done"),
    )  # fmt: skip


def _registration(form: dict[str, Any], errs: Errors) -> dict[str, Any]:
    return forms.compact({
        "name": forms.text(form, "name"), "role": forms.text(form, "role"),
        "capabilities": forms.words(form, "capabilities"),
        "metadata": forms.json_object(form, "metadata", errs, empty={}),
    })  # fmt: skip


@post("/agents", include_in_schema=False)
async def register(visit: Visitor) -> Response[Any]:
    form = await visit.form()
    errs = Errors()
    agent_id = forms.text(form, "id")
    if not agent_id:
        errs.add("id", "id: required")
    body = _registration(form, errs)
    if not errs:
        answer = await visit.call("PUT", f"/v1/agents/{agent_id}", body=body)
        if answer.status in (200, 201):
            return _done("/console/agents", done=f"registered {agent_id}")
        errs = forms.problem(answer, {"agent_id": "id"})
    return await _agents(visit, None, errs, form, 422)


@get("/agents/{agent_id:str}", name="console:agent", include_in_schema=False)
async def agent_page(visit: Visitor, agent_id: http.AgentPath) -> Template:
    return await _agent(visit, agent_id)


async def _agent(
    visit: Visitor,
    agent_id: str,
    *,
    status: int = 200,
    store: tuple[Errors, dict[str, Any]] | None = None,
    send: tuple[Errors, dict[str, Any]] | None = None,
    edit: tuple[Errors, dict[str, Any]] | None = None,
) -> Template:
    found = await visit.call("GET", f"/v1/agents/{agent_id}") if visit.can("agents:read") else None
    agent = found.json() if found is not None and found.status == 200 else None
    params = dict(visit.request.query_params)
    query = await _query(visit, params, agent_id) if params.get("run") else None
    return visit.page(
        "agent.html", status, agent_id=agent_id, agent=agent,
        registered=agent is not None or found is None,
        may_store=visit.can("memories:write") and visit.acts_as(agent_id),
        may_read=visit.can("memories:read"),
        may_inbox=visit.can("messages:read") and visit.acts_as(agent_id),
        may_send=visit.can("messages:write"),
        may_edit=visit.can("agents:write") and visit.acts_as(agent_id),
        store=store or (Errors(), {}), send=send or (Errors(), {}),
        edit=edit or (Errors(), agent or {}),
        params=params, query=query, semantic=visit.console.semantic,
        done=params.get("done"), consumer=CONSUMER,
        sender=visit.principal.agent_id or "",
    )  # fmt: skip


@post("/agents/{agent_id:str}/edit", include_in_schema=False)
async def edit_agent(visit: Visitor, agent_id: http.AgentPath) -> Response[Any]:
    form = await visit.form()
    errs = Errors()
    body = _registration(form, errs)
    if not errs:
        answer = await visit.call("PUT", f"/v1/agents/{agent_id}", body=body)
        if answer.status in (200, 201):
            return _done(f"/console/agents/{agent_id}", done="registration saved")
        errs = forms.problem(answer)
    return await _agent(visit, agent_id, status=422, edit=(errs, form))


@post("/agents/{agent_id:str}/delete", include_in_schema=False)
async def unregister(visit: Visitor, agent_id: http.AgentPath) -> Response[Any]:
    answer = await visit.call("DELETE", f"/v1/agents/{agent_id}")
    if answer.status in (204, 404):
        return _done("/console/agents", done=f"unregistered {agent_id}")
    return await _agent(visit, agent_id, status=answer.status,
                        edit=(forms.problem(answer), {}))  # fmt: skip


@post("/agents/{agent_id:str}/memories", include_in_schema=False)
async def store(visit: Visitor, agent_id: http.AgentPath) -> Response[Any]:
    """Store a memory as this agent: the context's JSON, tags, importance and TTL."""
    form = await visit.form()
    errs = Errors()
    body = forms.compact({
        "agent_id": agent_id, "context": forms.json_object(form, "context", errs),
        "tags": forms.words(form, "tags"), "importance": forms.number(form, "importance", errs),
        "ttl_seconds": forms.number(form, "ttl_seconds", errs, whole=True),
    })  # fmt: skip
    if not errs:
        key = forms.text(form, "idempotency_key") or None  # a double submit stores once (G5)
        answer = await visit.call("POST", "/v1/memories", body=body, idempotency_key=key)
        if answer.status in (200, 201):
            stored = answer.json()
            return _done(f"/console/agents/{agent_id}", done=f"stored memory {stored['id']}")
        errs = forms.problem(answer)
    return await _agent(visit, agent_id, status=422, store=(errs, form))


@post("/agents/{agent_id:str}/messages", include_in_schema=False)
async def send(visit: Visitor, agent_id: http.AgentPath) -> Response[Any]:
    """Send this agent a message, from the agent the form names."""
    form = await visit.form()
    errs = Errors()
    body = forms.compact({
        "from_agent": forms.text(form, "from_agent") or visit.principal.agent_id,
        "to_agent": agent_id, "context": forms.json_object(form, "context", errs),
        "priority": forms.text(form, "priority") or None,
        "ttl_seconds": forms.number(form, "ttl_seconds", errs, whole=True),
    })  # fmt: skip
    if not body.get("from_agent"):
        errs.add("from_agent", "from_agent: required, the agent the message is from")
    if not errs:
        key = forms.text(form, "idempotency_key") or None
        answer = await visit.call("POST", "/v1/messages", body=body, idempotency_key=key)
        if answer.status in (200, 201):
            return _done(f"/console/agents/{agent_id}", done=f"sent message {answer.json()['id']}")
        errs = forms.problem(answer)
    return await _agent(visit, agent_id, status=422, send=(errs, form))


@get("/agents/{agent_id:str}/inbox", include_in_schema=False)
async def inbox(visit: Visitor, agent_id: http.AgentPath) -> ServerSentEvent:
    """The agent's messages as they arrive, each as the HTML of its inbox entry: the API's
    event stream, taken as consumer `console` (on reconnect, those it has not acked first)."""
    last = visit.request.headers.get("last-event-id")
    headers = visit.session.api_headers()
    if last:
        headers["last-event-id"] = last[:64]
    request = loopback.Request(
        "GET", f"/v1/agents/{agent_id}/messages/stream", {"consumer": CONSUMER}
    )
    env = visit.app.template_engine.engine  # type: ignore[union-attr]
    entry = env.get_template("_message.html")

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        async with loopback.stream(visit.app, request, headers) as answer:
            if answer.status != 200:
                body = b"".join([chunk async for chunk in answer.chunks])
                problem = forms.problem(loopback.Answer(answer.status, answer.headers, body))
                message = problem.general or "; ".join(problem.fields.values())
                yield ServerSentEventMessage(event="problem", data=message)
                return
            yield ServerSentEventMessage(event="ready", data="live")
            async for event in _events(answer.chunks):
                if event is None:
                    yield ServerSentEventMessage(comment="heartbeat")
                    continue
                html = entry.render(message=event, agent_id=agent_id, csrf=visit.session.csrf,
                                    csrf_field=CSRF_FIELD)  # fmt: skip
                yield ServerSentEventMessage(event="message", id=event["id"], data=html)

    return ServerSentEvent(events(), retry_duration=2000)


async def _events(chunks: AsyncIterator[bytes]) -> AsyncIterator[dict[str, Any] | None]:
    """Server-Sent Events as they arrive: each `message` event's data (JSON), None for a
    comment (a heartbeat)."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk.replace(b"\r\n", b"\n")
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            data = [line[5:].lstrip() for line in block.split(b"\n") if line.startswith(b"data:")]
            if data:
                yield msgspec.json.decode(b"\n".join(data))
            elif block.startswith(b":"):
                yield None


@post("/agents/{agent_id:str}/inbox/ack", include_in_schema=False)
async def ack(visit: Visitor, agent_id: http.AgentPath) -> Response[Any]:
    """Acknowledge messages of the agent's inbox: JSON `{acked}` to the page's script, else
    back to the agent's page."""
    form = await visit.request.form()
    ids = [value for value in form.getall("id") if isinstance(value, str)] if form else []
    answer = await visit.call("POST", f"/v1/agents/{agent_id}/messages/ack", body={"ids": ids})
    if visit.request.headers.get("accept", "").startswith("application/json"):
        return Response(answer.body, status_code=answer.status, media_type="application/json")
    if answer.status == 200:
        return _done(f"/console/agents/{agent_id}", done=f"acknowledged {answer.json()['acked']}")
    raise errors.Invalid(forms.problem(answer).general or "the acknowledgement was refused")


# -- memories -------------------------------------------------------------------------------------


async def _query(visit: Visitor, params: dict[str, str], agent_id: str | None) -> dict[str, Any]:
    """A memory query from a GET form's fields: the page of results, or the errors."""
    errs = Errors()
    body: dict[str, Any] = forms.compact({
        "tags": forms.words(params, "tags"), "match": params.get("match") or None,
        "min_importance": forms.number(params, "min_importance", errs),
        "since": _time(forms.text(params, "since"), "since", errs),
        "until": _time(forms.text(params, "until"), "until", errs),
        "text": forms.text(params, "text") or None,
        "semantic": forms.text(params, "semantic") or None,
        "order": params.get("order") or None,
        "limit": forms.number(params, "limit", errs, whole=True) or PAGE,
        "cursor": params.get("cursor") or None,
    })  # fmt: skip
    if agent_id is not None and params.get("scope", "agent") == "agent":
        body["agent_id"] = agent_id
    elif agent_id is None and forms.words(params, "agents"):
        body["agent_ids"] = forms.words(params, "agents")
    if errs:
        return {"errors": errs, "items": [], "next_cursor": None}
    answer = await visit.call("POST", "/v1/memories/query", body=body)
    if answer.status != 200:
        return {"errors": forms.problem(answer, {"agent_ids": "agents"}), "items": [],
                "next_cursor": None}  # fmt: skip
    items, next_cursor = _items(answer)
    return {"errors": Errors(), "items": items, "next_cursor": next_cursor}


@get("/memories", name="console:memories", include_in_schema=False)
async def memories_page(visit: Visitor) -> Template:
    params = dict(visit.request.query_params)
    query = await _query(visit, params, None) if visit.can("memories:read") else None
    return visit.page("memories.html", params=params, query=query,
                      semantic=visit.console.semantic, done=params.get("done"))  # fmt: skip


@get("/memories/{memory_id:uuid}", name="console:memory", include_in_schema=False)
async def memory_page(visit: Visitor, memory_id: FromPath[uuid.UUID]) -> Template:
    answer = await visit.call("GET", f"/v1/memories/{memory_id}")
    if answer.status != 200:
        raise errors.NotFound(forms.problem(answer).general or "no such memory")
    return visit.page("memory.html", memory=answer.json(), may_delete=visit.can("memories:write"))


@post("/memories/{memory_id:uuid}/delete", include_in_schema=False)
async def delete_memory(visit: Visitor, memory_id: FromPath[uuid.UUID]) -> Response[Any]:
    answer = await visit.call("DELETE", f"/v1/memories/{memory_id}")
    if answer.status in (204, 404):
        return _done("/console/memories", done=f"deleted memory {memory_id}")
    raise errors.Forbidden(forms.problem(answer).general or "the delete was refused")


# -- messages -------------------------------------------------------------------------------------


@get("/messages", name="console:messages", include_in_schema=False)
async def messages_page(visit: Visitor) -> Template:
    params = dict(visit.request.query_params)
    history = replay = None
    errs = Errors()
    agent, peer = forms.text(params, "agent"), forms.text(params, "peer")
    if params.get("view") == "history":
        answer = await visit.call("GET", "/v1/messages/history", params={
            "agent": agent, "peer": peer, "limit": PAGE, "cursor": params.get("cursor"),
        })  # fmt: skip
        history = _items(answer) if answer.status == 200 else None
        if answer.status != 200:
            errs = forms.problem(answer)
    elif params.get("view") == "replay":
        since = _time(forms.text(params, "since"), "since", errs) or "1970-01-01T00:00:00Z"
        if not agent:
            errs.add("agent", "agent: required")
        if not errs:
            answer = await visit.call("GET", f"/v1/agents/{agent}/messages/replay", params={
                "since": since, "limit": PAGE, "cursor": params.get("cursor"),
            })  # fmt: skip
            replay = _items(answer) if answer.status == 200 else None
            if answer.status != 200:
                errs = forms.problem(answer, {"agent_id": "agent"})
    stats = await visit.call("GET", "/v1/stats") if visit.can("admin") else None
    return visit.page(
        "messages.html", params=params, history=history, replay=replay, errors=errs,
        stats=stats.json() if stats is not None and stats.status == 200 else None,
    )  # fmt: skip


HANDLERS = [
    login_form, login, logout, overview, agents_page, register, agent_page, edit_agent,
    unregister, store, send, inbox, ack, memories_page, memory_page, delete_memory,
    messages_page,
]  # fmt: skip
__all__ = ["HANDLERS", "SignIn"]
