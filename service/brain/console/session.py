"""The console's session: one cookie, encrypted and authenticated (AES-256-GCM), holding the
credential a person signed in with, the workspace (the admin token's choice), a CSRF token and
the session's end. The service keeps nothing: any worker and any replica reads the cookie,
since they share the key (`BRAIN_CONSOLE_SECRET`, else derived from `BRAIN_ADMIN_TOKEN`).

The cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it),
scoped to /console, and Secure when the request came over HTTPS (directly or, behind a proxy,
as `X-Forwarded-Proto: https` says). Every unsafe request must carry the session's CSRF token,
in the form field `_csrf` or the `X-CSRF-Token` header (a synchronizer token: an attacker's
page can neither read it nor make the browser send it), and an `Origin`, when sent, of this
same host.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import secrets
import time
from typing import Any

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from litestar.datastructures import Cookie

COOKIE = "brain_console"
PATH = "/console"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "x-csrf-token"
_NONCE = 12
_PURPOSE = b"brain console session v1"


@dataclasses.dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    """The token every unsafe request of this session carries."""
    token: str | None = None
    """The admin token or API key signed in with; None: not signed in yet."""
    workspace: str | None = None
    """With the admin token: the workspace it works in (None: the service's own)."""
    ends: float = 0.0
    """Epoch seconds after which the session is over."""

    @property
    def signed_in(self) -> bool:
        return self.token is not None and self.ends > time.time()

    def api_headers(self) -> dict[str, str]:
        """The headers of this session's requests to the API."""
        headers = {"authorization": f"Bearer {self.token}"}
        if self.workspace:
            headers["x-brain-workspace"] = self.workspace
        return headers


class _Stored(msgspec.Struct, array_like=True):
    csrf: str
    token: str | None
    workspace: str | None
    ends: float


class Sessions:
    """Seals sessions into cookies and opens them again."""

    def __init__(self, secret: str, seconds: int) -> None:
        key = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()
        self.aead = AESGCM(key)
        self.seconds = seconds

    def new(self) -> Session:
        """A session not signed in: only its CSRF token (the sign-in form needs one)."""
        return Session(csrf=secrets.token_urlsafe(32))

    def signed_in(self, token: str, workspace: str | None) -> Session:
        """Signed in: a new CSRF token too (one known before signing in is not reused)."""
        return Session(secrets.token_urlsafe(32), token, workspace, time.time() + self.seconds)

    def seal(self, session: Session) -> str:
        nonce = secrets.token_bytes(_NONCE)
        plain = msgspec.msgpack.encode(_Stored(**dataclasses.asdict(session)))
        sealed = self.aead.encrypt(nonce, plain, COOKIE.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, value: str | None) -> Session | None:
        """The session in a cookie's value; None when there is none, or it was altered, made
        with another key, or is over."""
        if not value or len(value) > 4096:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            plain = self.aead.decrypt(raw[:_NONCE], raw[_NONCE:], COOKIE.encode())
            stored = msgspec.msgpack.decode(plain, type=_Stored)
        except (binascii.Error, ValueError, InvalidTag, msgspec.DecodeError):
            return None
        session = Session(stored.csrf, stored.token, stored.workspace, stored.ends)
        if session.token is not None and not session.signed_in:
            return None
        return session

    def cookie(self, session: Session | None, secure: bool) -> Cookie:
        """The Set-Cookie of `session` (None: the cookie cleared)."""
        common: dict[str, Any] = {
            "key": COOKIE, "path": PATH, "httponly": True, "samesite": "strict", "secure": secure,
        }  # fmt: skip
        if session is None:
            return Cookie(value="", max_age=0, expires=0, **common)
        max_age = max(1, round(session.ends - time.time())) if session.token else None
        return Cookie(value=self.seal(session), max_age=max_age, **common)


def csrf_matches(session: Session, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(session.csrf.encode(), sent.encode())


def key_from(console_secret: str | None, admin_token: str | None) -> str | None:
    """The secret sessions are sealed with: BRAIN_CONSOLE_SECRET, else the admin token (every
    worker and replica has it); None: neither is set, and the console cannot keep sessions."""
    return console_secret or admin_token
