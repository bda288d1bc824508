"""Who is calling /v1, and in which workspace: the admin token or an API key (G7).

- The admin token (`BRAIN_ADMIN_TOKEN`) works in `default`, or in the workspace its request
  names in `X-Brain-Workspace`, with every scope.
- An API key works in its own workspace only, with its scopes; an agent-bound key acts as its
  agent only (`Principal.acting_as`). Its secret is `brk_<workspace>_<40 random characters>`:
  the fixed prefix lets secret scanners find a leaked key, and the workspace lets the service
  look the key up in that workspace, under row-level security like any other row. PostgreSQL
  keeps only its SHA-256 (a fast hash is right for 238 random bits: there is nothing to guess).
- Each route names the scope it needs in its `opt` (`needs`); a route that names none is for
  the admin token only.

A process keeps each key it looked up for at most KEY_CACHE_SECONDS (0.5 s): authenticating
costs no database round trip per request (one per key and process every half second), and a
revoked or deleted key stops working on every replica within that half second, with or without
Redis: nothing needs to reach the replicas (the process that revokes it forgets it at once).

A plain ASGI middleware on the /v1 router rather than a Litestar guard: a guard costs a copy of
the route handler on every request, and this check runs on every request."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging
import re
import secrets
import string
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from litestar.di import NamedDependency
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from brain.kit import db, errors, fields, ratelimit, registry
from brain.observability import metrics
from brain.settings import Settings

log = logging.getLogger("brain.auth")

SQL = db.load_queries(Path(__file__).with_name("auth.sql"))

SCOPES = (
    "memories:read", "memories:write", "messages:read", "messages:write", "agents:read",
    "agents:write", "admin",
)  # fmt: skip
ADMIN_TOKEN = "admin-token"  # noqa: S105 - a scope name, not a secret
"""The `needs` of routes for the admin token alone (the workspace registry)."""
SECRET_PREFIX = "brk_"  # noqa: S105 - the prefix of every key, not a secret
RANDOM_CHARS = 40
SHOWN_CHARS = 6
"""Of the random part, how many characters the key's `prefix` shows."""
KEY_CACHE_SECONDS = 0.5
MAX_CACHED_KEYS = 10_000
TOUCH_SECONDS = 60.0
"""A key's `last_used_at` is brought up to date at most this often."""
WORKSPACE_HEADER = "X-Brain-Workspace"

_ALPHABET = string.ascii_letters + string.digits
_AUTHORIZATION = b"authorization"
_WORKSPACE = WORKSPACE_HEADER.lower().encode()
_SECRET = re.compile(
    rf"^{SECRET_PREFIX}(?P<workspace>[A-Za-z0-9_.-]{{1,64}})_[A-Za-z0-9]{{{RANDOM_CHARS}}}\Z"
)


def needs(scope: str) -> dict[str, str]:
    """A route's `opt`: the scope a key must hold to call it (ADMIN_TOKEN: none may)."""
    assert scope in SCOPES or scope == ADMIN_TOKEN, scope
    return {"scope": scope}


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """The credential of a request."""

    workspace: str
    key_id: uuid.UUID | None = None
    """None: the admin token."""
    scopes: frozenset[str] = frozenset(SCOPES)
    agent_id: str | None = None
    """An agent-bound key acts as this agent only."""
    rate: tuple[float, int] | None = None
    """(per_second, burst) of the key's rate limit."""
    expires: float | None = None
    """The key's expiry, epoch seconds."""

    @property
    def is_admin_token(self) -> bool:
        return self.key_id is None

    def acting_as(self, agent_id: str, field: str) -> None:
        """403 naming `field` unless this credential may act as `agent_id`."""
        if self.agent_id is not None and agent_id != self.agent_id:
            raise errors.Forbidden(
                f"this key acts as agent {self.agent_id!r} only, not {agent_id!r}", field=field
            )

    def acting_as_any(self, agent_ids: Iterable[str], field: str) -> None:
        for n, agent_id in enumerate(agent_ids):
            self.acting_as(agent_id, field.format(n=n))


def new_secret(workspace: str) -> tuple[str, str, bytes]:
    """A new key's (secret, prefix, digest)."""
    random_part = "".join(secrets.choice(_ALPHABET) for _ in range(RANDOM_CHARS))
    secret = f"{SECRET_PREFIX}{workspace}_{random_part}"
    return secret, secret[: len(secret) - RANDOM_CHARS + SHOWN_CHARS], digest(secret)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def secret_workspace(token: str) -> str | None:
    """The workspace a well-formed key secret names; None if it is not one."""
    match = _SECRET.match(token)
    return match["workspace"] if match else None


class Keys:
    """Looks API keys up, through this process's cache of KEY_CACHE_SECONDS."""

    def __init__(self, database: db.Database) -> None:
        self.db = database
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}
        self._loading: dict[bytes, asyncio.Future[Principal | None]] = {}
        self._touching: set[asyncio.Task[None]] = set()

    async def find(self, workspace: str, key_digest: bytes) -> Principal | None:
        """The live key with this digest in `workspace`, or None (unknown, revoked, expired)."""
        now = time.monotonic()
        cached = self._cache.get(key_digest)
        if cached is not None and cached[0] > now:
            found = cached[1]
        else:
            loading = self._loading.get(key_digest)
            if loading is None:  # one lookup for the requests that arrive meanwhile
                loading = asyncio.ensure_future(self._load(workspace, key_digest))
                self._loading[key_digest] = loading
                loading.add_done_callback(lambda _: self._loading.pop(key_digest, None))
            found = await asyncio.shield(loading)
        if found is None or found.workspace != workspace:
            return None
        if found.expires is not None and found.expires <= time.time():
            return None
        return found

    async def _load(self, workspace: str, key_digest: bytes) -> Principal | None:
        metrics.KEY_LOOKUPS.inc()
        async with self.db.connection(workspace=workspace) as conn:
            cur = await conn.execute(SQL["key"], {"workspace": workspace, "digest": key_digest})
            row = await cur.fetchone()
        found = None
        if row is not None and not row["revoked"]:
            rate = None
            if row["rate_per_second"] is not None:
                rate = (float(row["rate_per_second"]), int(row["rate_burst"]))
            found = Principal(
                workspace, row["id"], frozenset(row["scopes"]), row["agent_id"], rate,
                row["expires"],
            )  # fmt: skip
            if row["stale_use"]:
                self._touch(workspace, row["id"])
        if len(self._cache) >= MAX_CACHED_KEYS:
            self._cache.clear()
        self._cache[key_digest] = (time.monotonic() + KEY_CACHE_SECONDS, found)
        return found

    def _touch(self, workspace: str, key_id: uuid.UUID) -> None:
        """Bring `last_used_at` up to date in the background (a lost update costs nothing)."""

        async def touch() -> None:
            try:
                async with self.db.transaction(workspace=workspace) as conn:
                    await conn.execute("SET LOCAL synchronous_commit = off")
                    await conn.execute(SQL["touch"], {"workspace": workspace, "id": key_id})
            except errors.BrainError as exc:
                log.debug("last_used_at of key %s not updated: %s", key_id, exc)

        task = asyncio.create_task(touch())
        self._touching.add(task)
        task.add_done_callback(self._touching.discard)

    def forget(self, workspace: str, key_id: uuid.UUID | None = None) -> None:
        """Drop the cached keys of `workspace` (one of them: `key_id`): revoked or erased here."""
        for key_digest, (_, found) in list(self._cache.items()):
            if found is not None and found.workspace == workspace:
                if key_id is None or found.key_id == key_id:
                    self._cache.pop(key_digest, None)


def _headers(scope: Scope) -> tuple[bytes | None, bytes | None]:
    authorization = workspace = None
    for name, value in scope["headers"]:
        if name == _AUTHORIZATION and authorization is None:
            authorization = value
        elif name == _WORKSPACE and workspace is None:
            workspace = value
    return authorization, workspace


def _token(authorization: bytes | None) -> bytes:
    if authorization is not None:
        scheme, _, token = authorization.partition(b" ")
        if scheme.lower() == b"bearer" and token.strip():
            return token.strip()
    raise errors.Unauthorized("Authorization: Bearer <token> is required")


def _refused(reason: str, detail: str) -> errors.Unauthorized:
    metrics.labelled(metrics.AUTH_FAILURES, reason).inc()
    return errors.Unauthorized(detail)


class Authenticator:
    """The middleware's work, with the app's pools (`app.state.auth`, built in its lifespan)."""

    def __init__(
        self,
        settings: Settings,
        database: db.Database,
        limiter: ratelimit.Limiter,
    ) -> None:
        self.admin_token = (settings.admin_token or "").encode()
        self.home = settings.workspace
        self.keys = Keys(database)
        self.known = registry.Known(database)
        self.limiter = limiter

    async def principal(self, scope: Scope) -> Principal:
        """The request's credential, checked against the route; 401, 403 or 404 otherwise."""
        found = await self._credential(scope)
        handler = scope.get("route_handler")
        needed = handler.opt.get("scope", ADMIN_TOKEN) if handler is not None else ADMIN_TOKEN
        if needed == ADMIN_TOKEN and not found.is_admin_token:
            raise errors.Forbidden("only the admin token may do this")
        if needed != ADMIN_TOKEN and needed not in found.scopes:
            raise errors.Forbidden(f"this key lacks the scope {needed}", field="scope")
        in_path = scope.get("path_params", {}).get("workspace_id")
        if in_path is not None:  # before the handler's own check: it decides where to look
            fields.agent_id(str(in_path), "workspace_id")
        if in_path is not None and needed != ADMIN_TOKEN:
            # /v1/workspaces/{workspace_id}/...: a key reaches its own workspace only, and any
            # other is as absent as one that does not exist.
            if not found.is_admin_token and in_path != found.workspace:
                raise errors.NotFound(f"workspace {in_path} does not exist")
            found = dataclasses.replace(found, workspace=str(in_path))
        await self._workspace_exists(found)
        return found

    async def identify(self, scope: Scope) -> Principal:
        """The request's credential, whatever it may do (each of its requests is then checked on
        its own: /mcp's tools call the API); 401 or 404 (a workspace the admin token names)."""
        found = await self._credential(scope)
        await self._workspace_exists(found)
        return found

    async def _credential(self, scope: Scope) -> Principal:
        authorization, header = _headers(scope)
        token = _token(authorization)
        named = None
        if header is not None:
            named = fields.agent_id(header.decode("latin-1").strip(), WORKSPACE_HEADER)
        if self.admin_token and hmac.compare_digest(token, self.admin_token):
            return Principal(named or self.home)
        text = token.decode("latin-1")
        workspace = secret_workspace(text)
        if workspace is None:
            raise _refused("invalid", "the bearer token is not valid")
        key = await self.keys.find(workspace, digest(text))
        if key is None:
            raise _refused("unknown", "the API key is not valid: unknown, revoked or expired")
        if named is not None and named != key.workspace:
            raise errors.Forbidden(
                f"{WORKSPACE_HEADER} is for the admin token: this key works in its own "
                "workspace only",
                field=WORKSPACE_HEADER,
            )
        return key

    async def _workspace_exists(self, found: Principal) -> None:
        if found.is_admin_token and found.workspace != self.home:
            if not await self.known.exists(found.workspace):
                raise errors.NotFound(f"workspace {found.workspace} does not exist")

    def forget_workspace(self, workspace: str) -> None:
        self.keys.forget(workspace)
        self.known.forget(workspace)


def middleware(app: ASGIApp) -> ASGIApp:
    """Admit a request with a valid credential for its route; remember its principal."""

    async def authenticated(scope: Scope, receive: Receive, send: Send) -> None:
        checker: Authenticator = scope["app"].state.auth
        try:
            found = await checker.principal(scope)
            fields: dict[str, str] = {}
            if found.rate is not None:
                verdict = await checker.limiter.take(
                    found.workspace, str(found.key_id), *found.rate
                )
                fields = verdict.headers
                if not verdict.allowed:
                    raise errors.TooManyRequests(
                        f"this key's rate limit ({found.rate[0]:g}/s, burst {found.rate[1]}) is "
                        "spent",
                        fields,
                    )
        except errors.BrainError as exc:
            await errors.answer(exc, scope, receive, send)  # logged and counted
            return
        state = scope.setdefault("state", {})
        state["principal"] = found
        state["workspace"] = found.workspace
        state["key_id"] = str(found.key_id) if found.key_id else None
        if not fields:
            await app(scope, receive, send)
            return
        extra = [(name.lower().encode(), value.encode()) for name, value in fields.items()]

        async def send_limited(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await app(scope, receive, send_limited)

    return authenticated


Workspace = NamedDependency[str]
"""Handler parameter `workspace: auth.Workspace`."""
Caller = NamedDependency[Principal]
"""Handler parameter `principal: auth.Caller`."""


def workspace(scope: Scope) -> str:
    """Dependency: the workspace the request's credential acts in (set by the middleware)."""
    return str(scope["state"]["workspace"])


def principal(scope: Scope) -> Principal:
    """Dependency: the request's credential (set by the middleware)."""
    found: Principal = scope["state"]["principal"]
    return found
