"""The test credentials, settings and environments of a service under test."""

from __future__ import annotations

from pathlib import Path

from brain.settings import Settings

TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"Content-Type": "application/json"}
EMBEDDING_SPACES = (("all-MiniLM-L6-v2/384", 384), ("test-vectors/3", 3))
"""The embedding spaces whose HNSW indexes the tests' template database has: the local model's,
and 3-dimensional vectors sent by clients (BRAIN_EMBEDDINGS=none, test-vectors)."""


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def settings(database_url: str, redis_url: str | None, **changes: object) -> Settings:
    """Settings of an in-process app against the test's own servers."""
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        admin_token=TOKEN,
        log_format="console",
        log_level="WARNING",
        db_pool_min=1,
        db_pool_max=8,
        embeddings="none",
    ).replace(**changes)


def service_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The environment of a `brain serve` process against the test's own servers."""
    return {
        "BRAIN_DATABASE_URL": database_url, "BRAIN_REDIS_URL": redis_url,
        "BRAIN_ADMIN_TOKEN": TOKEN, "BRAIN_LOG_FORMAT": "json", "BRAIN_LOG_LEVEL": "INFO",
    }  # fmt: skip
