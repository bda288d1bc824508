"""`Brain`: the blocking client, over httpx.Client. Every method builds its call in
`_requests`, and `_core.Attempts` decides what each answer means; this module moves the bytes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx
import msgspec

from brain_client import _loops, _requests, models
from brain_client._core import LIMITS, Attempts, Call, Config, Retry, check_media

T = TypeVar("T")
DEFAULT_URL = "http://localhost:8080"
_RECORD = msgspec.json.Decoder(models.ExportRecord)


class Brain:
    """A client of one Brain (`base_url`, default `$BRAIN_URL` or http://localhost:8080) with a
    bearer `token` (default `$BRAIN_TOKEN`): the admin token or an API key.

    `workspace`: the admin token's workspace (`X-Brain-Workspace`). `timeout`: seconds for each
    read, write and pool wait (a long poll adds its `wait`), `connect_timeout` for connecting.
    `retry`: when calls are tried again (`Retry`). `http`: an httpx.Client of your own (its
    transport, proxies, certificates); the client then does not close it."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        workspace: str | None = None,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        retry: Retry | None = None,
        stream_timeout: float = 45.0,
        headers: Mapping[str, str] | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self._config = Config(
            base_url=base_url or os.environ.get("BRAIN_URL") or DEFAULT_URL,
            token=token if token is not None else os.environ.get("BRAIN_TOKEN"),
            workspace=workspace,
            timeout=timeout,
            connect_timeout=connect_timeout,
            retry=retry or Retry(),
            stream_timeout=stream_timeout,
            headers=tuple((headers or {}).items()),
        )
        self._owns = http is None
        self._http = http or httpx.Client(timeout=self._config.http_timeout(), limits=LIMITS)

    @property
    def config(self) -> Config:
        return self._config

    def with_workspace(self, workspace: str) -> Brain:
        """A client of the same Brain in `workspace` (admin token), sharing the connections."""
        other = object.__new__(Brain)
        other._config = dataclasses.replace(self._config, workspace=workspace)
        other._owns, other._http = False, self._http
        return other

    def close(self) -> None:
        if self._owns:
            self._http.close()

    def __enter__(self) -> Brain:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- transport --------------------------------------------------------------------------------

    def _send(self, call: Call[T], *, stream: bool) -> tuple[Attempts[T], httpx.Response]:
        """Tried until an answer is final: (its attempts, the response)."""
        tries = Attempts(self._config, call)
        while True:
            try:
                response = self._http.send(tries.request(), stream=stream)
            except httpx.TransportError as exc:
                time.sleep(tries.failed(exc))
                continue
            delay = tries.answered(response.status_code, response.headers)
            if delay is None:
                return tries, response
            response.close()
            time.sleep(delay)

    def _run(self, call: Call[T]) -> T:
        tries, response = self._send(call, stream=False)
        return tries.finish(response.status_code, response.headers, response.content)

    def _open(self, call: Call[None]) -> httpx.Response:
        """A streamed answer, its status a success (else its error is raised)."""
        tries, response = self._send(call, stream=True)
        if response.is_success:
            check_media(call.op, response.headers)
            return response
        try:
            raise tries.error(response.status_code, response.headers, response.read())
        finally:
            response.close()

    def _pages(self, pages: _requests.Pages) -> Iterator[Any]:
        cursor: str | None = None
        while True:
            page = self._run(pages(cursor))
            yield from page.items
            cursor = page.next_cursor
            if cursor is None:
                return

    # -- agents -----------------------------------------------------------------------------------

    def register_agent(
        self,
        agent_id: str,
        *,
        name: str | None = None,
        role: str | None = None,
        capabilities: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> models.Agent:
        """Register the agent, or replace its registration as a whole (PUT)."""
        return self._run(_requests.register_agent(agent_id, name, role, capabilities, metadata))

    def get_agent(self, agent_id: str) -> models.Agent:
        return self._run(_requests.get_agent(agent_id))

    def list_agents(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> models.AgentPage:
        """One page of agents, by id."""
        return self._run(_requests.list_agents(limit, cursor))

    def iter_agents(self, *, page_size: int | None = None) -> Iterator[models.Agent]:
        """Every agent, by id, a page at a time."""
        return self._pages(_requests.agent_pages(page_size))

    def unregister_agent(self, agent_id: str) -> None:
        """Remove the registration (its memories stay)."""
        self._run(_requests.unregister_agent(agent_id, purge=False))

    def purge_agent(self, agent_id: str) -> None:
        """Erase everything held of the agent (scope admin; audited)."""
        self._run(_requests.unregister_agent(agent_id, purge=True))

    def export_agent(self, agent_id: str) -> Iterator[models.ExportRecord]:
        """Everything held of the agent, a record at a time (scope admin; audited)."""
        response = self._open(_requests.export_agent(agent_id))
        try:
            for line in response.iter_lines():
                if line:
                    yield _RECORD.decode(line)
        finally:
            response.close()

    # -- memories ---------------------------------------------------------------------------------

    def store(
        self,
        agent_id: str,
        context: Mapping[str, Any],
        *,
        tags: Sequence[str] | None = None,
        importance: float | None = None,
        ttl_seconds: int | None = None,
        expires_at: dt.datetime | None = None,
        embedding: Sequence[float] | None = None,
        dedupe: float | None = None,
        idempotency_key: str | None = None,
    ) -> models.Memory:
        """Store a memory. `dedupe`: a similarity threshold; a near duplicate of the agent's is
        answered instead (with `duplicate_of`) and nothing is stored. Retried with one
        Idempotency-Key (yours, or a new uuid4): one memory, however many tries."""
        memory = _requests.memory_in(
            agent_id, context, tags, importance, ttl_seconds, expires_at, embedding, dedupe
        )
        return self._run(_requests.store(memory, idempotency_key))

    def store_batch(
        self, items: Sequence[models.MemoryIn], *, idempotency_key: str | None = None
    ) -> list[models.Memory]:
        """Store 1-100 memories at once, all or none; answered in the order given."""
        return self._run(_requests.store_batch(items, idempotency_key)).items

    def get_memory(self, memory_id: uuid.UUID | str) -> models.Memory:
        return self._run(_requests.get_memory(memory_id))

    def delete_memory(self, memory_id: uuid.UUID | str) -> None:
        self._run(_requests.delete_memory(memory_id))

    def query(
        self,
        *,
        agent_id: str | None = None,
        agent_ids: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        match: models.Match | None = None,
        min_importance: float | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        text: str | None = None,
        semantic: str | None = None,
        vector: Sequence[float] | None = None,
        min_score: float | None = None,
        order: models.Order | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> models.MemoryPage:
        """One page of memories matching every filter given (README: query semantics)."""
        body = _requests.query_in(
            agent_id, agent_ids, tags, match, min_importance, since, until, text, semantic,
            vector, min_score, order, limit, cursor,
        )  # fmt: skip
        return self._run(_requests.query(body))

    def iter_query(
        self,
        *,
        agent_id: str | None = None,
        agent_ids: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        match: models.Match | None = None,
        min_importance: float | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        text: str | None = None,
        semantic: str | None = None,
        vector: Sequence[float] | None = None,
        min_score: float | None = None,
        order: models.Order | None = None,
        page_size: int | None = None,
    ) -> Iterator[models.Memory]:
        """Every memory the query matches, a page of `page_size` at a time."""
        body = _requests.query_in(
            agent_id, agent_ids, tags, match, min_importance, since, until, text, semantic,
            vector, min_score, order, page_size, None,
        )  # fmt: skip
        return self._pages(_requests.query_pages(body))

    def agent_memories(
        self, agent_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> models.MemoryPage:
        """One page of the agent's memories, newest first."""
        return self._run(_requests.agent_memories(agent_id, limit, cursor))

    def iter_agent_memories(
        self, agent_id: str, *, page_size: int | None = None
    ) -> Iterator[models.Memory]:
        return self._pages(_requests.agent_memory_pages(agent_id, page_size))

    # -- messages ---------------------------------------------------------------------------------

    def share(
        self,
        from_agent: str,
        to_agent: str,
        context: Mapping[str, Any],
        *,
        priority: models.Priority | None = None,
        ttl_seconds: int | None = None,
        idempotency_key: str | None = None,
    ) -> models.Message:
        """Send a message to one agent (retried with one Idempotency-Key: sent once)."""
        return self._run(
            _requests.share(from_agent, to_agent, context, priority, ttl_seconds, idempotency_key)
        )

    def broadcast(
        self,
        from_agent: str,
        context: Mapping[str, Any],
        *,
        priority: models.Priority | None = None,
        ttl_seconds: int | None = None,
        idempotency_key: str | None = None,
    ) -> models.Message:
        """Send a message to every registered agent but the sender."""
        return self._run(
            _requests.broadcast(from_agent, context, priority, ttl_seconds, idempotency_key)
        )

    def take(
        self,
        agent_id: str,
        *,
        limit: int | None = None,
        wait: float | None = None,
        consumer: str | None = None,
    ) -> list[models.TakenMessage]:
        """Take new messages (and expired leases), waiting up to `wait` seconds for the first;
        each is leased to `consumer` until acknowledged."""
        return self._run(_requests.take(agent_id, limit, wait, consumer)).items

    def ack(self, agent_id: str, message_ids: Sequence[uuid.UUID | str]) -> int:
        """Acknowledge messages; how many of them are addressed to the agent."""
        return self._run(_requests.ack(agent_id, message_ids)).acked

    def inbox(
        self,
        agent_id: str,
        handler: Callable[[models.TakenMessage], object],
        *,
        consumer: str = "default",
        wait: float = 10.0,
        limit: int = 10,
        stop: _loops.Flag | None = None,
        max_messages: int | None = None,
    ) -> models.InboxStats:
        """Take messages (long polls of `wait` s) and call `handler` on each: acknowledged when
        it returns, left unacknowledged when it raises (delivered again after the visibility
        timeout). Runs until `stop.is_set()` (checked between polls) or `max_messages` were
        handled."""
        loop = _loops.Inbox(limit, stop, max_messages)
        while loop.running():
            for message in self.take(
                agent_id, limit=loop.next_limit(), wait=wait, consumer=consumer
            ):
                try:
                    handler(message)
                except Exception as exc:
                    loop.handled(message, exc)
                else:
                    loop.handled(message, None)
                    loop.stats.acked += self.ack(agent_id, [message.id])
        return loop.stats

    def stream(
        self,
        agent_id: str,
        *,
        consumer: str | None = None,
        last_event_id: str | None = None,
        max_reconnects: int | None = None,
    ) -> Iterator[models.TakenMessage]:
        """Messages pushed as Server-Sent Events, taken as `consumer` (default `sse`); ack them
        with `ack()`. Reconnects by itself (with `Last-Event-ID`: nothing lost, nothing sent
        twice) after `max_reconnects` failures in a row at most (None: forever)."""
        session = _loops.Stream(self._config, agent_id, consumer, last_event_id, max_reconnects)
        while True:
            try:
                response = self._http.send(session.request(), stream=True)
                try:
                    content = b"" if response.status_code == 200 else response.read()
                    delay = session.opened(response.status_code, response.headers, content)
                    if delay is None:
                        for line in response.iter_lines():
                            message = session.line(line)
                            if message is not None:
                                yield message
                        delay = session.dropped(None)
                finally:
                    response.close()
            except httpx.TransportError as exc:
                delay = session.dropped(exc)
            time.sleep(delay)

    def history(
        self,
        agent: str,
        peer: str,
        *,
        limit: int | None = None,
        before: dt.datetime | None = None,
        cursor: str | None = None,
    ) -> models.MessagePage:
        """One page of the direct messages between two agents, both ways, newest first."""
        return self._run(_requests.history(agent, peer, limit, before, cursor))

    def iter_history(
        self,
        agent: str,
        peer: str,
        *,
        before: dt.datetime | None = None,
        page_size: int | None = None,
    ) -> Iterator[models.Message]:
        return self._pages(_requests.history_pages(agent, peer, page_size, before))

    def replay(
        self,
        agent_id: str,
        since: dt.datetime,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> models.ReplayPage:
        """One page of every message to the agent since `since`, oldest first, with `acked_at`."""
        return self._run(_requests.replay(agent_id, since, limit, cursor))

    def iter_replay(
        self, agent_id: str, since: dt.datetime, *, page_size: int | None = None
    ) -> Iterator[models.ReplayedMessage]:
        return self._pages(_requests.replay_pages(agent_id, since, page_size))

    # -- admin ------------------------------------------------------------------------------------

    def stats(self) -> models.Stats:
        return self._run(_requests.stats())

    def cleanup(self) -> models.Cleanup:
        """Delete expired data now (audited)."""
        return self._run(_requests.cleanup())

    def clear(self, confirm: str) -> None:
        """Delete every agent, memory and message of the workspace: `confirm` must be
        "delete all data"."""
        self._run(_requests.clear(confirm))

    def audit_log(self, *, limit: int | None = None, cursor: str | None = None) -> models.AuditPage:
        return self._run(_requests.audit_log(limit, cursor))

    def iter_audit_log(self, *, page_size: int | None = None) -> Iterator[models.AuditEntry]:
        return self._pages(_requests.audit_pages(page_size))

    # -- workspaces and keys (admin token; keys: or a key with scope admin) ----------------------

    def create_workspace(self, workspace_id: str, *, name: str | None = None) -> models.Workspace:
        return self._run(_requests.create_workspace(workspace_id, name))

    def list_workspaces(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> models.WorkspacePage:
        return self._run(_requests.list_workspaces(limit, cursor))

    def iter_workspaces(self, *, page_size: int | None = None) -> Iterator[models.Workspace]:
        return self._pages(_requests.workspace_pages(page_size))

    def delete_workspace(self, workspace_id: str, *, confirm: str) -> None:
        """Erase the workspace and all its data: `confirm` must repeat its id."""
        self._run(_requests.delete_workspace(workspace_id, confirm))

    def create_key(
        self,
        workspace_id: str,
        name: str,
        scopes: Sequence[models.Scope],
        *,
        agent_id: str | None = None,
        expires_at: dt.datetime | None = None,
        rate_limit: models.RateLimit | None = None,
    ) -> models.NewKey:
        """A new API key; its `secret` is in this answer only."""
        return self._run(
            _requests.create_key(workspace_id, name, scopes, agent_id, expires_at, rate_limit)
        )

    def list_keys(self, workspace_id: str) -> list[models.Key]:
        return self._run(_requests.list_keys(workspace_id)).items

    def revoke_key(self, workspace_id: str, key_id: uuid.UUID | str) -> None:
        self._run(_requests.revoke_key(workspace_id, key_id))

    # -- health -----------------------------------------------------------------------------------

    def live(self) -> models.Live:
        return self._run(_requests.live())

    def ready(self) -> models.Ready:
        """Readiness, also when it is "unavailable" (answered 503)."""
        return self._run(_requests.ready())
