"""Logging: one JSON object per line (or a console format for development), with the request id
and trace id of the request being served, and secrets redacted from every line."""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import re
import sys
from collections.abc import Iterable

import msgspec

from brain.observability import tracing

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_LEFT_OUT = _STANDARD | {"color_message"}
"""`color_message` is uvicorn's copy of a message with terminal colour codes."""
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[^\s\"',]+"),  # Authorization values
    re.compile(r"(://[^:/@\s]*:)[^@\s]+(@)"),  # passwords in URLs
    re.compile(r"(?i)(password=)[^\s&]+"),  # libpq key=value passwords
    re.compile(r"(brk_[A-Za-z0-9_.-]{1,64}_)[A-Za-z0-9]{40}"),  # API key secrets (kit.auth)
]
REDACTED = "[redacted]"


class Redactor:
    """Removes secrets from text: known values (the admin token) and secret-shaped patterns."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = [s for s in secrets if s]

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(
                lambda m: m.group(1) + REDACTED + (m.group(2) if m.re.groups > 1 else ""), text
            )
        return text


class ContextFilter(logging.Filter):
    """Adds `request_id` and `trace_id` of the current request to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.trace_id = tracing.current_trace_id()
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            {k: v for k, v in vars(record).items() if k not in _LEFT_OUT and v is not None}
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self.redact(msgspec.json.encode(entry, enc_hook=str).decode())


class ConsoleFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s [%(request_id)s]")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


def configure(level: str, fmt: str, secrets: Iterable[str] = ()) -> None:
    """Route every logger to stderr in the chosen format (idempotent)."""
    redact = Redactor(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if fmt == "json" else ConsoleFormatter(redact))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
