"""The relay: appends what is committed but not yet on a stream.

It runs in every service process, for every workspace at once (the outbox is read across
workspaces, `db.ALL`); `FOR UPDATE SKIP LOCKED` lets several run side by side. Three
cases reach the outbox: Redis was down when the message was shared; the service died between the
commit and the append; Redis lost data (FLUSHALL, a new empty Redis, or a restart that lost the
last second of its AOF). The last case is detected with a marker key per Redis node holding that
node's run id: a missing marker means the data went, another run id means the node restarted.
Either way, every unacknowledged delivery is put back in the outbox; appends are idempotent, so
what is still there is not duplicated.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio import RedisCluster
from redis.exceptions import RedisError

from brain.kit import background, db, errors, keys, registry
from brain.messaging import repository
from brain.messaging.service import now_ms
from brain.messaging.streams import Streams, outgoing
from brain.observability import metrics

log = logging.getLogger("brain.relay")

GRACE_SECONDS = 1.0  # the share path appends within this; the relay takes older rows
BATCH = 500
INTERVAL_SECONDS = 0.5
PENDING_EVERY_ROUNDS = 20  # the stream-pending gauge every 10 s


class Relay:
    def __init__(self, database: db.Database, streams: Streams, marker_space: str, retention: int):
        self.db = database
        self.streams = streams
        self.marker_space = (
            marker_space  # the markers' place among the keys (the default workspace)
        )
        self.retention = retention
        self._markers: list[tuple[str, Any]] | None = None
        self._rounds = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: check for Redis data loss, drain the outbox; errors wait a round."""

        async def round_() -> None:
            try:
                await self.once()
            except (errors.Unavailable, RedisError) as exc:
                log.debug("relay round skipped: %s", exc)

        await background.every(INTERVAL_SECONDS, stop, round_)

    async def once(self, grace: float = GRACE_SECONDS) -> int:
        """One round; returns how many deliveries it appended."""
        await self.check_redis()
        appended = 0
        while True:
            done, count = await self._drain(grace)
            appended += count
            if done < BATCH:
                break
        metrics.OUTBOX_BACKLOG.set(await repository.outbox_backlog(self.db))
        self._rounds += 1
        if self._rounds % PENDING_EVERY_ROUNDS == 1:
            pending = 0
            for workspace in await registry.ids(self.db):
                agents = await repository.registered_agents(self.db, workspace)
                pending += await self.streams.pending_count(workspace, agents)
            metrics.STREAM_PENDING.set(pending)
        return appended

    async def _drain(self, grace: float) -> tuple[int, int]:
        appended = 0
        at = now_ms()
        async with self.db.transaction(workspace=db.ALL) as conn:
            rows = await repository.outbox_batch(conn, grace, self.retention, BATCH)
            for row in rows:
                expired = (
                    row["expires_at"] is not None and row["expires_at"].timestamp() * 1000 <= at
                )
                if row["acked_at"] is not None or expired or row["too_old"]:
                    continue
                item = outgoing(
                    row["workspace"], row["agent_id"], row, row["body"].encode(), row["requeued"]
                )
                appended += await self.streams.append(item, at)
            if rows:
                await repository.mark_enqueued(conn, rows)
        if appended:
            metrics.RELAY_APPENDED.inc(appended)
            log.info("relay appended %d deliveries", appended)
        return len(rows), appended

    async def _marker_targets(self) -> list[tuple[str, Any]]:
        """One marker key per Redis node (per primary of a cluster), with the node to ask."""
        client = self.streams.client
        if not isinstance(client, RedisCluster):
            return [(keys.streams_marker(self.marker_space, "node"), None)]
        targets = []
        for node in client.get_primaries():
            for i in range(100_000):  # a tag that hashes to one of this node's slots
                key = keys.streams_marker(self.marker_space, f"node{i}")
                owner = client.get_node_from_key(key)
                if owner is not None and owner.name == node.name:
                    targets.append((key, node))
                    break
        return targets

    async def _run_id(self, node: Any) -> str:
        client = self.streams.client
        info = await (client.info("server", target_nodes=node) if node else client.info("server"))
        if "run_id" not in info:  # a cluster answers per node
            info = next(iter(info.values()))
        return str(info["run_id"])

    async def check_redis(self) -> bool:
        """Requeue unacknowledged deliveries if a Redis node lost data; True if it did."""
        if self._markers is None:
            self._markers = await self._marker_targets()
        current = [(key, await self._run_id(node)) for key, node in self._markers]
        stored = [await self.streams.client.get(key) for key, _ in current]
        if all(
            m is not None and (m.decode() if isinstance(m, bytes) else m) == run_id
            for m, (_, run_id) in zip(stored, current, strict=True)
        ):
            return False
        requeued = await repository.requeue_unacked(self.db, self.retention)
        if any(m is not None for m in stored) or requeued:
            log.warning("redis lost delivery data or restarted: %d deliveries requeued", requeued)
        for key, run_id in current:
            await self.streams.client.set(key, run_id)
        self._markers = None  # the topology may have changed too
        return True
