"""Who is looking at the console, and their way to the API.

A `Visit` is one console request of a signed-in person: their session (from the cookie), their
credential as the API knows it (scopes, workspace, the agent a key is bound to), and `call`,
which asks the API in-process with that credential. The console shows what the credential
allows; the API decides what it does, exactly as for an agent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import msgspec
from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import Litestar, Request
from litestar.datastructures import Cookie
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template

from brain.console import session
from brain.console.session import Session, Sessions
from brain.kit import auth, errors, loopback
from brain.settings import Settings

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
STATIC = Path(__file__).parent / "static"


class SignIn(Exception):
    """The request needs a signed-in session: to the sign-in page, then back to `next`."""

    def __init__(self, next_path: str, reason: str | None = None) -> None:
        super().__init__(reason or "sign in")
        self.next_path, self.reason = next_path, reason


class Refused(errors.BrainError):
    """A form or request the console itself refuses (CSRF, origin)."""

    status = 403


class Console:
    """The console's settings and session keys (`app.state.console`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        secret = session.key_from(settings.console_secret, settings.admin_token)
        self.sessions = Sessions(secret, settings.console_session_seconds) if secret else None
        self.semantic = settings.embeddings_provider != "none"

    def need_sessions(self) -> Sessions:
        if self.sessions is None:
            raise errors.Unavailable(
                "the console keeps sessions with BRAIN_CONSOLE_SECRET or BRAIN_ADMIN_TOKEN; "
                "neither is set",
                retry_after=60,
            )
        return self.sessions

    def session_of(self, request: Request[Any, Any, Any]) -> Session | None:
        return self.need_sessions().open(request.cookies.get(session.COOKIE))


def secure(request: Request[Any, Any, Any]) -> bool:
    """Whether the browser reached the console over HTTPS (directly, or through a proxy that
    says so): the session cookie is then Secure."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def same_origin(request: Request[Any, Any, Any]) -> bool:
    """An unsafe request's `Origin`, when the browser sends one, names this host."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or ""
    return urllib.parse.urlsplit(origin).netloc == host.split(",")[0].strip()


async def check_form(request: Request[Any, Any, Any], found: Session) -> None:
    """403 unless an unsafe request carries the session's CSRF token and comes from here."""
    if not same_origin(request):
        raise Refused("this form was sent from another site")
    sent = request.headers.get(session.CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(session.CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not session.csrf_matches(found, sent):
        raise Refused("the form's CSRF token is missing or stale: reload the page and try again")


@dataclasses.dataclass(slots=True)
class Visit:
    request: Request[Any, Any, Any]
    console: Console
    session: Session
    principal: auth.Principal

    @property
    def app(self) -> Litestar:
        return self.request.app

    def can(self, scope: str) -> bool:
        return scope in self.principal.scopes

    def acts_as(self, agent_id: str) -> bool:
        """Whether this credential may act as `agent_id` (an agent-bound key: only its own)."""
        return self.principal.agent_id in (None, agent_id)

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> loopback.Answer:
        """The API's answer to this request, made with the visitor's credential."""
        clean = {k: str(v) for k, v in (params or {}).items() if v not in (None, "")}
        request = loopback.Request(method, path, clean, body, idempotency_key)
        return await loopback.send(self.app, request, self.session.api_headers())

    async def form(self) -> dict[str, Any]:
        data = await self.request.form()
        return {k: data.get(k) for k in data}

    def page(self, name: str, status: int = 200, **context: Any) -> Template:
        return Template(
            template_name=name,
            context={"visit": self, "csrf": self.session.csrf, **context},
            status_code=status,
        )


async def visit(request: Request[Any, Any, Any]) -> Visit:
    """The `visit` dependency of every console page but sign-in: a signed-in session whose
    credential the API still accepts (else to the sign-in page), and for an unsafe request, its
    CSRF token."""
    console: Console = request.app.state.console
    found = console.session_of(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if found is None or not found.signed_in:
        raise SignIn(here if request.method in SAFE else "/console")
    if request.method not in SAFE:
        await check_form(request, found)
    try:
        principal = await identify(request, found.api_headers())
    except (errors.Unauthorized, errors.NotFound, errors.Forbidden) as exc:
        raise SignIn(here, f"signed out: {exc.detail}") from exc
    return Visit(request, console, found, principal)


async def identify(request: Request[Any, Any, Any], headers: Mapping[str, str]) -> auth.Principal:
    """The credential `headers` carry, as the API would take it (401, 403 or 404 otherwise)."""
    checker: auth.Authenticator = request.app.state.auth
    raw = [(k.lower().encode(), v.encode("latin-1", "replace")) for k, v in headers.items()]
    return await checker.identify(cast(Any, {"headers": raw}))


# -- templates ------------------------------------------------------------------------------------


def _ago(value: str | None) -> str:
    """'3 min ago' for an RFC 3339 time."""
    if not value:
        return ""
    try:
        then = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    seconds = (dt.datetime.now(dt.UTC) - then).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min"), (1, "s")):
        if seconds >= size or unit == "s":
            amount = f"{int(seconds // size)} {unit}"
            return f"in {amount}" if future else f"{amount} ago"
    return value  # pragma: no cover


def _pretty(value: Any) -> str:
    """JSON, indented, for reading."""
    return msgspec.json.format(msgspec.json.encode(value), indent=2).decode()


def query_string(params: Mapping[str, Any], **changes: Any) -> str:
    """A query string of `params` with `changes` (None: removed)."""
    merged = {**params, **changes}
    return urllib.parse.urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def templates() -> JinjaTemplateEngine:
    env = Environment(
        loader=PackageLoader("brain.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        lstrip_blocks=True,
    )
    env.filters.update(ago=_ago, pretty=_pretty)
    env.globals.update(qs=query_string, csrf_field=session.CSRF_FIELD)
    return JinjaTemplateEngine.from_environment(env)


def cookie(request: Request[Any, Any, Any], found: Session | None) -> Cookie:
    console: Console = request.app.state.console
    return console.need_sessions().cookie(found, secure(request))
