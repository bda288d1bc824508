"""The client's side of a drill: a steady load of stores, queries, shares, takes and acks through
Brain's HTTP API, every answer recorded, and afterwards the checks that count what was lost.

Every write carries an Idempotency-Key and, in its context, the drill's run id and that key, so
that the rows it left in PostgreSQL can be found and counted. A write answered 2xx is
*acknowledged*; one answered otherwise (an error, a timeout, a dropped connection) is *in doubt*:
it may or may not have been committed. After the drill each in-doubt write is sent again with the
same key and body until it is answered 2xx, and then every key must be stored exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx
import psycopg

REQUEST_TIMEOUT = 10.0
"""The client's patience with one request. The service's longest wait during an outage is a
write slot and then a connection, 5 s each: a write queued behind both can reach this, and is
then counted as a timeout (in doubt), as a client with this patience would see it."""
PAUSE = 0.02
"""Between two requests of one loop (and after a failure, so that an outage is not a busy loop)."""


@dataclasses.dataclass(slots=True)
class Call:
    """One request and its answer: a status code, or `timeout` / `connection`."""

    route: str
    kind: str  # store | query | share | take | ack
    started: float  # time.monotonic()
    ended: float
    status: int | str
    retry_after: bool = False
    agent: str = ""  # the agent whose inbox a take or an ack is for

    @property
    def ok(self) -> bool:
        return isinstance(self.status, int) and 200 <= self.status < 300


@dataclasses.dataclass(slots=True)
class Write:
    """A store or share: what was sent, and how the first attempt was answered."""

    kind: str
    key: str
    path: str
    body: dict[str, Any]
    started: float
    ended: float = 0.0
    status: int | str = 0
    id: str | None = None
    """The stored id, from the first 2xx answer (the first attempt's or a retry's)."""
    wall_started: float = 0.0  # time.time(), for the point-in-time restore
    wall_ended: float = 0.0

    @property
    def acked(self) -> bool:
        return isinstance(self.status, int) and 200 <= self.status < 300


class Load:
    """Loops of writers, readers, sharers and one consumer per recipient, over `urls` (several
    `brain serve` processes, taken in turn), until `stop()`."""

    def __init__(
        self,
        urls: Sequence[str],
        token: str,
        *,
        recipients: Sequence[str] = ("drill-r1", "drill-r2", "drill-r3"),
        writers: int = 3,
        readers: int = 1,
        sharers: int = 2,
        consume: bool = True,
    ) -> None:
        self.urls = list(urls)
        self.token = token
        self.run = uuid.uuid4().hex[:12]
        self.sender = "drill-sender"
        self.recipients = list(recipients)
        self.counts = {"writers": writers, "readers": readers, "sharers": sharers}
        self.consume = consume
        self.calls: list[Call] = []
        self.writes: dict[str, Write] = {}
        self.deliveries: Counter[str] = Counter()  # message id -> times delivered
        self.delivered_at: dict[str, float] = {}  # message id -> when last delivered
        self.delivery_log: list[tuple[str, float]] = []  # (message id, when), every delivery
        self.delivered_key: dict[str, str] = {}  # message id -> the share's key
        self.acked_at: dict[str, float] = {}  # message id -> when its ack was answered 200
        self.ack_started: dict[str, float] = {}  # message id -> when its first ack was sent
        self.redelivered_acked: list[str] = []  # delivered again after an ack answered 200
        self._turn = itertools.count()
        self._numbers = itertools.count()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self.paused_consumers: set[str] = set()

    # -- running ---------------------------------------------------------------------------------

    def _url(self) -> str:
        return self.urls[next(self._turn) % len(self.urls)]

    @property
    def client(self) -> httpx.AsyncClient:
        assert self._client is not None
        return self._client

    async def __aenter__(self) -> Load:
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=REQUEST_TIMEOUT,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        await self.register()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        await self.client.aclose()

    async def register(self) -> None:
        for agent in (self.sender, *self.recipients):
            await self.until_ok("PUT", f"/v1/agents/{agent}", {"role": "drill"}, within=60)

    def start(self) -> None:
        loops = [self._writer(i) for i in range(self.counts["writers"])]
        loops += [self._reader(i) for i in range(self.counts["readers"])]
        loops += [self._sharer(i) for i in range(self.counts["sharers"])]
        if self.consume:
            loops += [self._consumer(agent) for agent in self.recipients]
        self._tasks = [asyncio.create_task(loop) for loop in loops]

    def start_consumers(self) -> None:
        """Consumers alone (again, after `stop_consumers`)."""
        self._tasks += [asyncio.create_task(self._consumer(agent)) for agent in self.recipients]

    async def stop(self) -> None:
        """Stop the writers, readers and sharers (consumers go on until `stop_consumers`)."""
        self._stopping.set()
        writers = [t for t in self._tasks if t.get_name() != "consumer"]
        await asyncio.gather(*writers, return_exceptions=True)

    async def stop_consumers(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def call(
        self, method: str, path: str, route: str, kind: str, body: Any = None,
        headers: dict[str, str] | None = None, agent: str = "",
    ) -> tuple[Call, httpx.Response | None]:  # fmt: skip
        started = time.monotonic()
        answer: httpx.Response | None = None
        status: int | str
        try:
            answer = await self.client.request(
                method, self._url() + path, json=body, headers=headers
            )
            status = answer.status_code
        except httpx.TimeoutException:
            status = "timeout"
        except httpx.HTTPError:
            status = "connection"
        done = Call(
            route, kind, started, time.monotonic(), status,
            retry_after=answer is not None and "retry-after" in answer.headers, agent=agent,
        )  # fmt: skip
        self.calls.append(done)
        return done, answer

    async def until_ok(
        self, method: str, path: str, body: Any = None, *, within: float = 60,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:  # fmt: skip
        """Send until answered 2xx (not recorded as load: set-up and retries)."""
        deadline = time.monotonic() + within
        last: object = None
        while time.monotonic() < deadline:
            try:
                answer = await self.client.request(
                    method, self._url() + path, json=body, headers=headers
                )
                if answer.is_success:
                    return answer
                last = f"{answer.status_code} {answer.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            await asyncio.sleep(0.5)
        raise TimeoutError(f"{method} {path}: no 2xx within {within:.0f} s (last: {last})")

    async def _write(self, kind: str, path: str, body: dict[str, Any], key: str) -> Write:
        write = Write(kind, key, path, body, time.monotonic(), wall_started=time.time())
        self.writes[key] = write
        done, answer = await self.call(
            "POST", path, f"POST {path}", kind, body, headers={"Idempotency-Key": key}
        )
        write.ended, write.wall_ended, write.status = done.ended, time.time(), done.status
        if done.ok and answer is not None:
            write.id = answer.json()["id"]
        return write

    async def _writer(self, index: int) -> None:
        while not self._stopping.is_set():
            n = next(self._numbers)
            key = f"{self.run}-m{n}"
            agent = f"drill-w{index}"
            body = {
                "agent_id": agent,
                "context": {"drill": self.run, "key": key, "n": n, "note": f"fact {n}"},
                "tags": ["drill"],
            }
            write = await self._write("store", "/v1/memories", body, key)
            await asyncio.sleep(PAUSE if write.acked else PAUSE * 5)

    async def _reader(self, index: int) -> None:
        while not self._stopping.is_set():
            body = {"agent_id": f"drill-w{index % max(1, self.counts['writers'])}", "limit": 20}
            await self.call("POST", "/v1/memories/query", "POST /v1/memories/query", "query", body)
            await asyncio.sleep(PAUSE * 2)

    async def _sharer(self, index: int) -> None:
        for n in itertools.count():
            if self._stopping.is_set():
                return
            key = f"{self.run}-s{index}-{n}"
            body = {
                "from_agent": self.sender,
                "to_agent": self.recipients[(n + index) % len(self.recipients)],
                "context": {"drill": self.run, "key": key},
            }
            write = await self._write("share", "/v1/messages", body, key)
            await asyncio.sleep(PAUSE * 2 if write.acked else PAUSE * 5)

    async def _consumer(self, agent: str) -> None:
        asyncio.current_task().set_name("consumer")  # type: ignore[union-attr]
        route = "GET /v1/agents/{id}/messages"
        while True:
            if agent in self.paused_consumers:
                await asyncio.sleep(0.1)
                continue
            path = f"/v1/agents/{agent}/messages?wait=1&limit=50&consumer=drill"
            done, answer = await self.call("GET", path, route, "take", agent=agent)
            if not done.ok or answer is None:
                await asyncio.sleep(PAUSE * 5)
                continue
            ids = []
            for item in answer.json()["items"]:
                message = item["id"]
                if message in self.acked_at and self.acked_at[message] < done.started:
                    self.redelivered_acked.append(message)
                self.deliveries[message] += 1
                self.delivered_at[message] = done.ended
                self.delivery_log.append((message, done.ended))
                self.delivered_key[message] = item["context"].get("key", "")
                ids.append(message)
            if ids:
                await self.ack(agent, ids)

    async def ack(self, agent: str, ids: list[str]) -> None:
        """Until answered 200: an unacknowledged message would be delivered again, rightly."""
        route = "POST /v1/agents/{id}/messages/ack"
        for message in ids:
            self.ack_started.setdefault(message, time.monotonic())
        for _ in range(50):
            done, _answer = await self.call(
                "POST", f"/v1/agents/{agent}/messages/ack", route, "ack", {"ids": ids}, agent=agent
            )
            if done.ok:
                for message in ids:
                    self.acked_at.setdefault(message, done.ended)
                return
            await asyncio.sleep(0.2)

    # -- measuring -------------------------------------------------------------------------------

    def first_ok(
        self, kind: str, after: float, agents: Sequence[str] | None = None
    ) -> float | None:
        """Seconds from `after` to the end of the first 2xx `kind` request started after it
        (for one of `agents`' inboxes)."""
        ends = [
            c.ended for c in self.calls
            if c.kind == kind and c.started >= after and c.ok
            and (agents is None or c.agent in agents)
        ]  # fmt: skip
        return min(ends) - after if ends else None

    async def wait_first_ok(
        self, kind: str, after: float, agents: Sequence[str] | None = None, within: float = 90
    ) -> float | None:
        """`first_ok`, waiting up to `within` seconds for it: the RTO seen by the clients."""
        deadline = time.monotonic() + within
        while (found := self.first_ok(kind, after, agents)) is None:
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.1)
        return found

    def failed(self, since: float = 0.0) -> Counter[str]:
        """Failed requests by route and status ("POST /v1/memories 503")."""
        return Counter(
            f"{c.route} {c.status}" for c in self.calls if not c.ok and c.started >= since
        )

    def statuses(self, since: float = 0.0) -> Counter[str]:
        """Failed requests by status alone."""
        return Counter(str(c.status) for c in self.calls if not c.ok and c.started >= since)

    def problems(self, *, redelivery: bool = True) -> list[str]:
        """What must never happen, whatever the fault: a 5xx other than 503, a 503 without
        Retry-After, an acknowledged message delivered again (with `redelivery`)."""
        found = []
        for c in self.calls:
            if isinstance(c.status, int) and c.status >= 500 and c.status != 503:
                found.append(f"{c.route} answered {c.status}")
            if c.status == 503 and not c.retry_after:
                found.append(f"{c.route} answered 503 without Retry-After")
        if redelivery and self.redelivered_acked:
            found.append(f"{len(self.redelivered_acked)} acknowledged messages delivered again")
        return sorted(set(found))

    def in_doubt(self) -> list[Write]:
        return [w for w in self.writes.values() if not w.acked]

    async def retry_in_doubt(self, within: float = 90) -> None:
        """Send every in-doubt write again, same key and body, until it is answered 2xx."""
        for write in self.in_doubt():
            answer = await self.until_ok(
                "POST", write.path, write.body, within=within,
                headers={"Idempotency-Key": write.key},
            )  # fmt: skip
            write.id = answer.json()["id"]

    async def wait_delivered(self, within: float = 60) -> list[str]:
        """Wait until every message answered 201 has been delivered; the ones that never were."""
        deadline = time.monotonic() + within
        while True:
            missing = [
                w.id for w in self.writes.values()
                if w.kind == "share" and w.id is not None and w.id not in self.deliveries
            ]  # fmt: skip
            if not missing or time.monotonic() > deadline:
                return [m for m in missing if m is not None]
            await asyncio.sleep(0.5)


@dataclasses.dataclass
class Stored:
    """What PostgreSQL holds of one drill's writes."""

    memories: dict[str, list[str]]  # key -> ids of the memories stored with that key
    messages: dict[str, list[str]]  # key -> ids of the messages

    def count(self, kind: str, key: str) -> int:
        return len((self.memories if kind == "store" else self.messages).get(key, []))


def stored(database_url: str, run: str) -> Stored:
    """Read the drill's rows straight from PostgreSQL (the system of record)."""
    memories: dict[str, list[str]] = {}
    messages: dict[str, list[str]] = {}
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        for table, into in (("memories", memories), ("messages", messages)):
            rows = conn.execute(
                f"SELECT context->>'key', id::text FROM {table} WHERE context->>'drill' = %s",  # noqa: S608  # a fixed table name
                (run,),
            ).fetchall()
            for key, ident in rows:
                into.setdefault(key, []).append(ident)
    return Stored(memories, messages)


@dataclasses.dataclass
class Tally:
    """The counts of a drill's checks."""

    acked: int = 0
    acked_lost: list[str] = dataclasses.field(default_factory=list)
    in_doubt: int = 0
    in_doubt_stored_once: int = 0
    duplicates: list[str] = dataclasses.field(default_factory=list)


def tally(load: Load, rows: Stored, writes: Sequence[Write] | None = None) -> Tally:
    """Acknowledged writes missing from PostgreSQL, and keys stored other than exactly once
    (after `retry_in_doubt`). `writes`: the ones that count (default: all)."""
    result = Tally()
    for write in writes if writes is not None else load.writes.values():
        count = rows.count(write.kind, write.key)
        if write.acked:
            result.acked += 1
            ids = (rows.memories if write.kind == "store" else rows.messages).get(write.key, [])
            if write.id not in ids:
                result.acked_lost.append(write.key)
        else:
            result.in_doubt += 1
            if count == 1:
                result.in_doubt_stored_once += 1
        if count > 1:
            result.duplicates.append(write.key)
    return result


@dataclasses.dataclass
class Outcome:
    """A drill's load, checked against PostgreSQL once it stopped."""

    counts: Tally
    failed: Counter[str]  # failed requests by status
    failed_routes: Counter[str]  # by route and status
    problems: list[str]


async def finish(drive: Load, database_url: str, *, check_stale: bool = True) -> Outcome:
    """After the fault: stop the load, send every in-doubt write again with its key, wait for
    every share answered 201 to be delivered, stop the consumers, then compare what was
    acknowledged with what PostgreSQL holds (and, with `check_stale`, what the API serves)."""
    await drive.stop()
    await drive.retry_in_doubt()
    undelivered = await drive.wait_delivered(60)
    await drive.stop_consumers()
    rows = await asyncio.to_thread(stored, database_url, drive.run)
    problems = drive.problems()
    if check_stale:
        problems += await stale(drive, database_url)
    if undelivered:
        problems.append(f"{len(undelivered)} shares answered 201 never delivered")
    return Outcome(tally(drive, rows), drive.statuses(), drive.failed(), problems)


async def sleep_until(moment: float) -> None:
    with contextlib.suppress(ValueError):
        await asyncio.sleep(max(0.0, moment - time.monotonic()))


async def stale(drive: Load, database_url: str, workspace: str = "default") -> list[str]:
    """What the API serves that PostgreSQL does not say (with the load stopped): each writer's
    newest memories by query (asked twice: the second answer is the cached one) and every
    acknowledged memory by id."""
    found = []
    agents = sorted({w.body["agent_id"] for w in drive.writes.values() if w.kind == "store"})
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        truth = {
            agent: [
                str(row[0]) for row in conn.execute(
                    "SELECT id FROM memories WHERE workspace = %s AND agent_id = %s"
                    " ORDER BY created_at DESC, id DESC LIMIT 20", (workspace, agent),
                )
            ]
            for agent in agents
        }  # fmt: skip
    for agent in agents:
        for attempt in ("first", "second"):
            answer = await drive.until_ok(
                "POST", "/v1/memories/query", {"agent_id": agent, "limit": 20}
            )
            served = [m["id"] for m in answer.json()["items"]]
            if served != truth[agent]:
                cache = answer.headers.get("x-brain-cache")
                found.append(f"query of {agent} ({attempt}, cache {cache}) differs from PostgreSQL")
    for write in [w for w in drive.writes.values() if w.kind == "store" and w.id][:300]:
        answer = await drive.client.get(f"{drive.urls[0]}/v1/memories/{write.id}")
        if answer.status_code != 200 or answer.json()["context"].get("key") != write.key:
            found.append(f"memory {write.id} served as {answer.status_code}")
    return found
