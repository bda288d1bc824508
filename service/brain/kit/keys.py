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


def _agent_tag(workspace: str, agent_id: str) -> str:
    return f"{{{workspace}/{agent_id}}}"


def message_stream(workspace: str, agent_id: str, priority: int) -> str:
    """An agent's delivery stream for one priority (0 low .. 3 urgent)."""
    return f"{PREFIX}:{_agent_tag(workspace, agent_id)}:inbox:{priority}"


def message_index(workspace: str, agent_id: str) -> str:
    """Hash: message id -> "<priority>|<entry id>" of that agent's streams."""
    return f"{PREFIX}:{_agent_tag(workspace, agent_id)}:index"


def streams_marker(workspace: str, tag: str) -> str:
    """Marks that a Redis node still holds its delivery data (see messaging.relay)."""
    return f"{PREFIX}:{{{workspace}/{tag}}}:marker"


def rate_bucket(workspace: str, key_id: str) -> str:
    """An API key's token bucket (kit.ratelimit): one key per command, so no hash tag."""
    return f"{PREFIX}:{workspace}:rate:{key_id}"
