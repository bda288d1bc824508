"""Every Redis key Brain uses, under one versioned prefix.

Keys that are read or written together in one command live in one hash slot (a `{...}` hash tag),
so the same code runs on a single Redis and on a Redis Cluster. Cache entries carry no hash tag and
spread over the cluster.
"""

from __future__ import annotations

PREFIX = "brain:v1"


def generations(workspace: str) -> str:
    """Hash of invalidation counters: `epoch`, `del`, `all` and `a:<agent>` (never expires)."""
    return f"{PREFIX}:{{{workspace}}}:gens"


def cache_stats(workspace: str) -> str:
    """Hash of cache counters: `lookups`, `misses`."""
    return f"{PREFIX}:{{{workspace}}}:cachestats"


def memory(workspace: str, memory_id: str) -> str:
    """A cached single memory."""
    return f"{PREFIX}:{workspace}:mem:{memory_id}"


def query(workspace: str, digest: str) -> str:
    """A cached query result."""
    return f"{PREFIX}:{workspace}:q:{digest}"
