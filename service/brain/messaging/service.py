"""Messaging rules: commit first (the outbox), then append to the recipients' streams."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import msgspec
from redis.exceptions import RedisError

from brain.kit import background, db, errors, fields, idempotency, pagination
from brain.messaging import repository
from brain.messaging.schemas import BroadcastIn, ShareIn
from brain.messaging.streams import PRIORITIES, Delivery, Streams, outgoing
from brain.observability import metrics

if TYPE_CHECKING:
    from brain.messaging.relay import Relay

log = logging.getLogger("brain.messaging")

MAX_WAIT_SECONDS = fields.MAX_WAIT_SECONDS
WAIT_SLICE_MS = 2000  # re-check expired leases at least this often while long-polling
HEARTBEAT_SECONDS = 15.0
MARK_INTERVAL_SECONDS = 0.1
SSE_BATCH = 10
EXPORT_PAGE = 500


def now_ms() -> int:
    return int(time.time() * 1000)


class _Outage:
    """Logs a Redis failure once per outage, not once per request."""

    def __init__(self) -> None:
        self.down = False

    def failed(self, exc: RedisError, what: str) -> None:
        if not self.down:
            log.warning("redis unavailable for messaging (%s): %s", what, exc)
        self.down = True

    def answered(self) -> None:
        if self.down:
            log.warning("redis answers again for messaging")
        self.down = False


def _unavailable() -> errors.Unavailable:
    return errors.Unavailable("Redis is unavailable; retry later", retry_after=2)


class MessageService:
    key = "messages"  # kit.areas.WorkspaceData

    def __init__(
        self,
        database: db.Database,
        streams: Streams | None,
        max_context_bytes: int,
        history_seconds: int,
        cursors: pagination.Cursors,
        relay: Relay | None = None,
    ) -> None:
        self.db = database
        self.streams = streams
        self.relay = relay
        self.max_context_bytes = max_context_bytes
        self.cursors = cursors
        self.history_window = dt.timedelta(seconds=history_seconds)
        self._appended: list[dict[str, Any]] = []  # deliveries on a stream, not yet marked
        self.outage = _Outage()

    def _need_streams(self) -> Streams:
        if self.streams is None:
            raise errors.Unavailable("Redis is not configured", retry_after=5)
        return self.streams

    # -- publishing -------------------------------------------------------------------------------

    async def share(self, workspace: str, data: ShareIn, key: str | None) -> idempotency.Answer:
        return await self._publish(workspace, data, data.to_agent, "POST /v1/messages", key)

    async def broadcast(
        self, workspace: str, data: BroadcastIn, key: str | None
    ) -> idempotency.Answer:
        return await self._publish(workspace, data, None, "POST /v1/messages/broadcast", key)

    async def _publish(
        self,
        workspace: str,
        data: ShareIn | BroadcastIn,
        to_agent: str | None,
        route: str,
        key: str | None,
    ) -> idempotency.Answer:
        """Commit the message and its deliveries (G1), then append; 201 even if Redis is down,
        because the relay appends whatever is committed and not yet on a stream."""
        context = fields.context_size(data.context, self.max_context_bytes)
        key = idempotency.check_key(key)
        priority = PRIORITIES.index(data.priority)
        params = {
            "workspace": workspace, "from_agent": data.from_agent, "to_agent": to_agent,
            "context": context.decode(), "priority": priority, "ttl_seconds": data.ttl_seconds,
        }  # fmt: skip
        sent: dict[str, Any] = {}

        async def write(conn: db.Conn) -> idempotency.Answer:
            row = await repository.publish(conn, params)
            for field, known, agent in (
                ("from_agent", "from_known", data.from_agent),
                ("to_agent", "to_known", to_agent),
            ):
                if not row[known]:
                    raise errors.NotFound(f"agent {agent} is not registered", field=field)
            sent.update(message=row, recipients=row["recipients"])
            return idempotency.Answer(201, row["body"].encode())

        fingerprint = idempotency.fingerprint(route, data, key)
        answer = await idempotency.run(
            self.db, workspace, key, fingerprint, write, single_statement=True
        )
        if not answer.replayed:
            kind = "direct" if to_agent else "broadcast"
            metrics.labelled(metrics.MESSAGES_PUBLISHED, kind, data.priority).inc()
            await self.append_after_commit(workspace, sent["message"], sent["recipients"], priority)
        return answer

    async def append_after_commit(
        self, workspace: str, message: dict[str, Any], recipients: Sequence[str], priority: int
    ) -> None:
        """Append to each recipient's stream; what fails stays in the outbox for the relay."""
        if self.streams is None or not recipients:
            return
        row = {
            "message_id": message["id"],
            "priority": priority,
            "expires_at": message["expires_at"],
        }
        body = message["body"].encode()
        at = now_ms()
        results = await asyncio.gather(
            *(
                self.streams.append(outgoing(workspace, agent, row, body, False), at)
                for agent in recipients
            ),
            return_exceptions=True,
        )
        for agent, result in zip(recipients, results, strict=True):
            if isinstance(result, RedisError):
                self.outage.failed(result, "appending; the relay will")
            elif isinstance(result, BaseException):
                raise result
            else:
                self.outage.answered()
                self._appended.append(
                    {"workspace": workspace, "agent_id": agent, "message_id": message["id"]}
                )

    def background(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        """While serving with Redis: marking what was appended, and the relay (kit.areas)."""
        if self.streams is None:
            return []
        tasks = [self.mark_appended(stop)]
        if self.relay is not None:
            tasks.append(self.relay.run(stop))
        return tasks

    async def drain(self) -> None:
        """Mark what was appended since the last mark (at shutdown)."""
        await self.flush_appended()

    async def mark_appended(self, stop: asyncio.Event) -> None:
        """Background task: take the deliveries the share path appended out of the outbox, in
        one UPDATE every MARK_INTERVAL_SECONDS, so that the relay only sees real leftovers."""
        await background.every(MARK_INTERVAL_SECONDS, stop, self.flush_appended)

    async def flush_appended(self) -> None:
        rows, self._appended = self._appended, []
        if not rows:
            return
        try:
            await repository.mark_appended(self.db, rows)
        except errors.Unavailable:
            log.warning("could not mark %d deliveries appended; the relay will", len(rows))

    # -- receiving --------------------------------------------------------------------------------

    async def _drop_acked(
        self, workspace: str, agent_id: str, deliveries: list[Delivery]
    ) -> list[Delivery]:
        """Retries of messages already acknowledged in PostgreSQL (their XACK was lost with
        Redis data) are acknowledged in Redis and not delivered again (G2)."""
        retries = [d.message_id for d in deliveries if d.times_delivered > 1]
        if not retries:
            return deliveries
        done = await repository.acked_among(self.db, workspace, agent_id, retries)
        if done:
            await self._need_streams().ack(workspace, agent_id, sorted(done))
        kept = [d for d in deliveries if d.message_id not in done]
        metrics.MESSAGES_REDELIVERED.inc(sum(1 for d in kept if d.times_delivered > 1))
        return kept

    async def take(
        self, workspace: str, agent_id: str, consumer: str, limit: int, wait: float
    ) -> list[Delivery]:
        """New messages and expired leases for one consumer; long-polls up to `wait` seconds
        on Redis alone (no database connection is held while waiting)."""
        streams = self._need_streams()
        deadline = time.monotonic() + wait
        try:
            while True:
                found, last_ids = await streams.read(workspace, agent_id, consumer, limit, now_ms())
                self.outage.answered()
                found = await self._drop_acked(workspace, agent_id, found)
                left = deadline - time.monotonic()
                if found or left <= 0:
                    return found
                await streams.wait(
                    workspace, agent_id, last_ids, min(int(left * 1000), WAIT_SLICE_MS)
                )
        except RedisError as exc:
            self.outage.failed(exc, "taking messages")
            raise _unavailable() from exc

    async def pending(
        self, workspace: str, agent_id: str, consumer: str, limit: int, wait: float
    ) -> bytes:
        found = await self.take(workspace, agent_id, consumer, limit, wait)
        return b'{"items":[' + b",".join(d.as_json() for d in found) + b"]}"

    async def ack(self, workspace: str, agent_id: str, ids: list[uuid.UUID]) -> int:
        """Record in PostgreSQL (the truth, G2), then XACK; a failed XACK is harmless because a
        redelivery of an acknowledged message is caught by `_drop_acked`."""
        acked, newly = await repository.ack(self.db, workspace, agent_id, ids)
        metrics.MESSAGES_ACKED.inc(newly)
        if self.streams is not None:
            try:
                await self.streams.ack(workspace, agent_id, [str(i) for i in ids])
            except RedisError as exc:
                self.outage.failed(exc, "XACK; the acknowledgement is recorded")
        return acked

    async def events(
        self, workspace: str, agent_id: str, consumer: str, last_event_id: str | None
    ) -> AsyncIterator[Delivery | None]:
        """For Server-Sent Events: first this consumer's unacknowledged messages that the client
        has not seen (delivered after `last_event_id`), then new ones; None = time for a
        heartbeat. Redis is asked before this returns, so that a 503 can still be answered."""
        streams = self._need_streams()
        try:
            mine = await streams.mine(workspace, agent_id, consumer)
        except RedisError as exc:
            self.outage.failed(exc, "taking messages")
            raise _unavailable() from exc
        seen = next((d for d in mine if d.message_id == last_event_id), None)
        if seen is not None:  # idle time orders deliveries: larger idle = delivered earlier
            mine = [d for d in mine if d.idle_ms < seen.idle_ms]
        elif last_event_id is not None:
            mine = [d for d in mine if d.message_id != last_event_id]
        mine.sort(key=lambda d: -d.idle_ms)

        async def follow() -> AsyncIterator[Delivery | None]:
            for delivery in mine:
                yield delivery
            while True:
                found = await self.take(workspace, agent_id, consumer, SSE_BATCH, HEARTBEAT_SECONDS)
                for delivery in found:
                    yield delivery
                if not found:
                    yield None

        return follow()

    # -- history ----------------------------------------------------------------------------------

    async def history(
        self,
        workspace: str,
        agent: str,
        peer: str,
        limit: int,
        before: dt.datetime | None,
        cursor: str | None,
    ) -> bytes:
        """Direct messages between two agents, both ways, newest first."""
        scope = pagination.scope("history", workspace, sorted([agent, peer]), before)
        after = None if cursor is None else self.cursors.decode(cursor, scope, pagination.Seq)
        rows = await repository.history(
            self.db,
            {
                "workspace": workspace, "agent": agent, "peer": peer, "before": before,
                "after_seq": after.seq if after else None, "limit": limit + 1,
            },
        )  # fmt: skip
        return pagination.page(rows, limit, self._after(scope))[0]

    async def replay(
        self, workspace: str, agent_id: str, since: dt.datetime, limit: int, cursor: str | None
    ) -> bytes:
        """Every message addressed to the agent since `since`, oldest first, with `acked_at`."""
        scope = pagination.scope("replay", workspace, agent_id, since)
        after = None if cursor is None else self.cursors.decode(cursor, scope, pagination.Seq)
        rows = await repository.replay(
            self.db,
            {
                "workspace": workspace, "agent_id": agent_id, "since": since,
                "after_seq": after.seq if after else None, "limit": limit + 1,
            },
        )  # fmt: skip
        items = [
            r["body"][:-1] + ',"acked_at":' + msgspec.json.encode(r["acked_at"]).decode() + "}"
            for r in rows
        ]
        return pagination.page(rows, limit, self._after(scope), items)[0]

    def _after(self, scope: str) -> Callable[[dict[str, Any]], str]:
        """The cursor after a message row: its sequence number, for this scope."""
        return lambda row: self.cursors.encode(scope, pagination.Seq(row["seq"]))

    # -- its data per workspace (kit.areas.WorkspaceData) ---------------------------------------

    async def counts(self, workspace: str) -> dict[str, Any]:
        """Messages, unacknowledged deliveries (in all, and for the `fields.STATS_TOP_AGENTS`
        agents with most), and the outbox backlog."""
        return await repository.counts(self.db, workspace, fields.STATS_TOP_AGENTS)

    async def cleanup(self, workspace: str) -> dict[str, int]:
        """Trim the streams to the retention and prune the history past its window."""
        trimmed = 0
        if self.streams is not None:
            at = now_ms()
            try:
                for agent in await repository.stream_agents(self.db, workspace):
                    trimmed += await self.streams.trim(workspace, agent, at)
            except RedisError as exc:
                self.outage.failed(exc, "trimming")
                raise _unavailable() from exc
        pruned = await repository.prune(self.db, workspace, self.history_window)
        return {"messages_trimmed": trimmed, "messages_pruned": pruned}

    async def erase(self, conn: db.Conn, workspace: str) -> Callable[[], Awaitable[None]]:
        """Delete every message and delivery; once that commits, the agents' streams."""
        agents = await repository.stream_agents(self.db, workspace)
        await repository.delete_all(conn, workspace)
        return lambda: self.forget_streams(workspace, agents)

    async def forget_streams(self, workspace: str, agents: Sequence[str]) -> None:
        """Delete the agents' streams (clear); best effort, as the data is gone from PostgreSQL."""
        if self.streams is None:
            return
        try:
            await self.streams.forget(workspace, agents)
        except RedisError as exc:
            log.warning("could not delete streams on clear: %s", exc)

    async def export(self, workspace: str, agent_id: str) -> AsyncIterator[bytes]:
        """The agent's messages (sent and received), oldest first, one NDJSON line each;
        received ones carry `acked_at`."""
        after = None
        while True:
            rows = await repository.export_page(self.db, workspace, agent_id, after, EXPORT_PAGE)
            for row in rows:
                acked = row["acked_at"]
                extra = b"" if acked is None else b',"acked_at":' + msgspec.json.encode(acked)
                yield b'{"type":"message","data":' + row["body"].encode() + extra + b"}\n"
            if len(rows) < EXPORT_PAGE:
                return
            after = int(rows[-1]["seq"])

    async def purge(
        self, conn: db.Conn, workspace: str, agent_id: str
    ) -> Callable[[], Awaitable[None]]:
        """Delete the agent's messages (sent, and sent to it directly) and its deliveries; once
        that commits, its streams and the entries of its messages in other agents' streams."""
        pending = await repository.purge(conn, workspace, agent_id)

        async def after() -> None:
            await self.forget_streams(workspace, [agent_id])
            if self.streams is None:
                return
            try:
                for recipient, ids in pending.items():
                    await self.streams.drop(workspace, recipient, ids)
            except RedisError as exc:  # the rows are gone: the relay never appends them again
                self.outage.failed(exc, "purging stream entries")

        return after
