"""Redis write-through cache for single memories and query results.

Invalidation is O(1) per write and needs no key scan. Each workspace has one Redis hash of counters
(`keys.generations`): `epoch` (everything), `del` (deletions), `all` (any write) and `a:<agent>` (a
write by that agent). A cache entry stores the counters it depends on, read *before* the database
was; a lookup reads the current counters in the same round trip and uses the entry only if they are
unchanged. A write bumps its counters before it is acknowledged, so no read after the
acknowledgement can match an entry computed before the write.

Redis unavailable means bypass (G6): lookups and fills are skipped for a second at a time, counted,
and logged once per outage. Writes acknowledged meanwhile could not bump their counters, so when
Redis answers again the epoch of every workspace this process has worked in is bumped before the
cache is used, which retires every older entry. A process bumps every workspace's epoch when it
starts, too: its previous run may have died between a commit and its bump.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from redis.exceptions import RedisError

from brain.kit import background, keys, redis_client
from brain.kit.redis_client import Client
from brain.observability import metrics

log = logging.getLogger("brain.cache")

Outcome = Literal["hit", "miss", "bypass"]
RETRY_SECONDS = 1.0
MAX_WORKSPACES = 100_000
"""Workspaces a process remembers having worked in (beyond it, it forgets them all and starts
over: only the epoch bump after an outage covers fewer of them)."""
_SEP = b"\n"


class Lookup:
    """The result of a cache lookup: the body on a hit, and the token a fill must carry."""

    __slots__ = ("body", "outcome", "token")

    def __init__(self, outcome: Outcome, body: bytes | None = None, token: bytes = b"") -> None:
        self.outcome = outcome
        self.body = body
        self.token = token


BYPASS = Lookup("bypass")


def _token(values: Sequence[bytes | None]) -> bytes:
    return b":".join(v or b"0" for v in values)


class Cache:
    """The cache of one service process."""

    def __init__(self, client: Client | None, ttl_seconds: int) -> None:
        self.client = client
        self.ttl_ms = ttl_seconds * 1000
        self._down = client is None
        self._retry_at = 0.0
        self._recover_lock = asyncio.Lock()
        self._memory_tokens: dict[str, bytes] = {}  # (epoch, del) as last seen by a lookup
        self._seen: set[str] = set()  # the workspaces this process has worked in
        self._counts: dict[str, list[int]] = {}  # [lookups, misses], added to Redis by `watch`

    # -- health -----------------------------------------------------------------------------

    def _failed(self, exc: Exception) -> None:
        if not self._down:
            log.warning("redis unavailable, cache bypassed until it answers: %s", exc)
            metrics.REDIS_OUTAGES.inc()
            metrics.DEPENDENCY_UP.labels("redis").set(0)
        self._down = True
        self._retry_at = time.monotonic() + RETRY_SECONDS

    async def _usable(self, workspace: str | None, *, quiet: bool = False) -> bool:
        """False while Redis is down; on its return, retire all entries before using it."""
        if workspace is not None and workspace not in self._seen:
            if len(self._seen) >= MAX_WORKSPACES:
                self._seen.clear()
            self._seen.add(workspace)
        if not self._down:
            return True
        if self.client is None or time.monotonic() < self._retry_at:
            return False
        async with self._recover_lock:
            if not self._still_down():  # another task recovered it while this one waited
                return True
            try:
                # No MULTI: redis-py's cluster client runs it in a thread with another loop.
                await self._retire(self._seen)
            except RedisError as exc:
                self._failed(exc)
                return False
            self._down = False
            metrics.DEPENDENCY_UP.labels("redis").set(1)
            if not quiet:
                log.warning("redis answers again, cache epoch bumped and cache in use")
            return True

    def _still_down(self) -> bool:
        return self._down

    async def _retire(self, workspaces: Iterable[str]) -> None:
        """Bump the epoch of each of `workspaces` (one round trip per 500), and take their
        (epoch, del) as the memory tokens from now on."""
        assert self.client is not None
        chosen = sorted(workspaces)
        self._memory_tokens.clear()
        for start in range(0, len(chosen), 500):
            part = chosen[start : start + 500]
            commands: list[tuple[Any, ...]] = []
            for workspace in part:
                gens = keys.generations(workspace)
                commands += [("HINCRBY", gens, "epoch", 1), ("HMGET", gens, "epoch", "del")]
            replies = await redis_client.pipeline(self.client, commands)
            for workspace, counters in zip(part, replies[1::2], strict=True):
                self._memory_tokens[workspace] = _token(counters)

    async def start(self, workspaces: Iterable[str]) -> None:
        """At process start: retire entries that a crashed process may have left stale, in
        every workspace."""
        if self.client is None:
            return
        self._seen.update(workspaces)
        self._down = True
        self._retry_at = 0.0
        if not await self._usable(None, quiet=True):
            log.warning("redis unavailable at start-up, cache bypassed until it answers")

    async def ping(self, workspace: str | None = None) -> bool:
        """True when Redis answers now (and, if it was down, the cache is back in use)."""
        if self.client is None:
            return False
        try:
            await self.client.ping()
        except RedisError as exc:
            self._failed(exc)
            return False
        self._retry_at = 0.0
        return await self._usable(workspace)

    async def watch(self, stop: asyncio.Event) -> None:
        """Background task until `stop`: probe Redis while it is down, so that recovery (and its
        epoch bumps) needs no traffic; add this process's lookups to the shared counters, for
        every workspace."""

        async def tick() -> None:
            if await self._usable(None):
                for workspace in list(self._counts):
                    await self._flush_counts(workspace)

        await background.every(RETRY_SECONDS, stop, tick, last=True)

    async def _flush_counts(self, workspace: str) -> None:
        """Add this process's lookups and misses to the workspace's shared counters."""
        lookups, misses = self._counts.pop(workspace, (0, 0))
        if (not lookups and not misses) or self.client is None:
            return
        try:
            stats = keys.cache_stats(workspace)
            await redis_client.pipeline(
                self.client,
                [("HINCRBY", stats, "lookups", lookups), ("HINCRBY", stats, "misses", misses)],
            )
        except RedisError as exc:
            self._failed(exc)

    # -- lookups and fills --------------------------------------------------------------------

    async def _lookup(self, workspace: str, key: str, fields: Sequence[str]) -> Lookup:
        if not await self._usable(workspace) or self.client is None:
            metrics.labelled(metrics.CACHE_REQUESTS, "bypass").inc()
            return BYPASS
        try:
            counters, value = await redis_client.pipeline(
                self.client, [("HMGET", keys.generations(workspace), *fields), ("GET", key)]
            )
        except RedisError as exc:
            self._failed(exc)
            metrics.labelled(metrics.CACHE_REQUESTS, "bypass").inc()
            return BYPASS
        counted = self._counts.get(workspace)
        if counted is None:
            counted = self._counts[workspace] = [0, 0]
        counted[0] += 1
        token = _token(counters)
        if value is not None:
            stored_token, _, body = value.partition(_SEP)
            if stored_token == token:
                metrics.labelled(metrics.CACHE_REQUESTS, "hit").inc()
                return Lookup("hit", body, token)
        counted[1] += 1
        metrics.labelled(metrics.CACHE_REQUESTS, "miss").inc()
        return Lookup("miss", None, token)

    async def _fill(self, key: str, token: bytes, body: bytes, ttl_ms: int) -> None:
        if self._down or self.client is None or ttl_ms <= 0:
            return
        try:
            await redis_client.pipeline(
                self.client, [("SET", key, token + _SEP + body, "PX", ttl_ms)]
            )
        except RedisError as exc:
            self._failed(exc)

    def ttl_for(self, expiries: Iterable[float | None], now: float) -> int:
        """Milliseconds an entry may live: the TTL, cut short by the first expiry it holds (G4)."""
        ttl = self.ttl_ms
        for expires in expiries:
            if expires is not None:
                ttl = min(ttl, int((expires - now) * 1000))
        return ttl

    async def get_memory(self, workspace: str, memory_id: str) -> Lookup:
        """A single memory depends only on deletions and the epoch (memories are immutable)."""
        lookup = await self._lookup(workspace, keys.memory(workspace, memory_id), ("epoch", "del"))
        if lookup.outcome != "bypass":
            self._memory_tokens[workspace] = lookup.token
        return lookup

    async def put_memory(
        self, workspace: str, memory_id: str, lookup: Lookup, body: bytes, expires: float | None
    ) -> None:
        """Fill after a miss."""
        if lookup.outcome != "miss":
            return
        ttl = self.ttl_for([expires], time.time())
        await self._fill(keys.memory(workspace, memory_id), lookup.token, body, ttl)

    def memory_token(self, workspace: str) -> bytes | None:
        """What a single memory written now may carry: (epoch, del) of its workspace as seen
        *before* the write, so that a deletion or a clear after it leaves the entry unusable.
        None: not known yet."""
        return None if self._down else self._memory_tokens.get(workspace)

    @staticmethod
    def _query_fields(agent_ids: Sequence[str] | None) -> list[str]:
        if not agent_ids:
            return ["epoch", "all"]
        return ["epoch", *(f"a:{a}" for a in sorted(set(agent_ids)))]

    async def get_query(
        self, workspace: str, digest: str, agent_ids: Sequence[str] | None
    ) -> Lookup:
        """A query result depends on writes by the agents it filters on (or by anyone)."""
        return await self._lookup(
            workspace, keys.query(workspace, digest), self._query_fields(agent_ids)
        )

    async def put_query(
        self,
        workspace: str,
        digest: str,
        lookup: Lookup,
        body: bytes,
        expiries: Iterable[float | None],
    ) -> None:
        if lookup.outcome != "miss":
            return
        ttl = self.ttl_for(expiries, time.time())
        await self._fill(keys.query(workspace, digest), lookup.token, body, ttl)

    # -- invalidation -------------------------------------------------------------------------

    async def stored_many(
        self,
        workspace: str,
        agent_ids: Iterable[str],
        token: bytes | None,
        written: Sequence[tuple[str, bytes, float | None]],
    ) -> None:
        """After memories (id, body, expiry) of these agents are committed: retire what they
        change and write them through, in one round trip. `token` comes from
        `memory_token(workspace)`, taken before the write."""
        now = time.time()
        fills = []
        for memory_id, body, expires in written:
            ttl = self.ttl_for([expires], now)
            if token is not None and ttl > 0:
                fills.append((keys.memory(workspace, memory_id), token + _SEP + body, ttl))
        fields = ["all", *(f"a:{a}" for a in sorted(set(agent_ids)))]
        await self._bump(workspace, fields, fills)

    async def invalidate(self, workspace: str, agent_ids: Iterable[str], *, deleted: bool) -> None:
        """Retire entries a write by these agents could change: O(agents) HINCRBYs, one key."""
        fields = ["all", *(f"a:{a}" for a in set(agent_ids))]
        await self._bump(workspace, [*fields, "del"] if deleted else fields)

    async def invalidate_all(self, workspace: str) -> None:
        """Retire every entry of the workspace (clear)."""
        await self._bump(workspace, ["epoch"])

    async def _bump(
        self, workspace: str, fields: list[str], fills: Sequence[tuple[str, bytes, int]] = ()
    ) -> None:
        if not await self._usable(workspace) or self.client is None:
            return  # the epoch is bumped when Redis answers again
        gens = keys.generations(workspace)
        try:
            commands: list[tuple[Any, ...]] = [("HINCRBY", gens, field, 1) for field in fields]
            commands += [("SET", key, value, "PX", ttl_ms) for key, value, ttl_ms in fills]
            await redis_client.pipeline(self.client, commands)
        except RedisError as exc:
            self._failed(exc)

    # -- figures ------------------------------------------------------------------------------

    async def counts(self, workspace: str) -> dict[str, int] | None:
        """Hits and misses across all service processes, or None while Redis is down."""
        if not await self._usable(workspace) or self.client is None:
            return None
        await self._flush_counts(workspace)
        try:
            raw = await self.client.hmget(keys.cache_stats(workspace), ["lookups", "misses"])
        except RedisError as exc:
            self._failed(exc)
            return None
        lookups, misses = (int(v or 0) for v in raw)
        return {"hits": max(lookups - misses, 0), "misses": misses}
