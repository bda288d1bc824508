"""Generated data: memories, query and message bodies, and the SQL parameters the service uses."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import time
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
import psycopg

from brain.kit import pagination
from brain.memory import repository as memories
from brain.memory.schemas import QueryIn
from brain.memory.service import QueryPlan
from brain.messaging import repository as messages

SQL = memories.SQL
MSG_SQL = messages.SQL
WORKSPACE = "default"
AGENTS = [f"agent-{i:02d}" for i in range(50)]
TOPICS = [f"topic-{i}" for i in range(10)]
TAG_POOL = [f"t{i:03d}" for i in range(200)]
KINDS = ["observation", "decision", "plan", "result", "question"]
SESSION_SETUP = "SET statement_timeout = '15s'; SET TimeZone = 'UTC'"  # as brain.kit.db.pool does
COPY_SQL = (
    "COPY memories (workspace, id, agent_id, context, tags, importance, created_at) FROM STDIN"
)
PEERS = [f"peer-{i:02d}" for i in range(10)]  # every registered agent while messaging
RECIPIENTS = PEERS[:8]  # direct messages go to these; PEERS[-1] sends them
# QueryPlan signs cursors; the bench's bodies carry none, so any secret will do.
CURSORS = pagination.Cursors(b"bench")


def _vocabulary(size: int) -> list[str]:
    """Pronounceable made-up words, so that full-text search has something to match."""
    rng = random.Random(7)
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 3))))
    return sorted(words)


VOCAB = _vocabulary(400)


@dataclasses.dataclass(frozen=True, slots=True)
class Memory:
    agent_id: str
    context: str  # compact JSON, about 200 bytes
    tags: list[str]
    importance: float

    def body(self) -> bytes:
        """The POST /v1/memories request body."""
        head = json.dumps({"agent_id": self.agent_id, "tags": self.tags})[:-1]
        return f'{head},"importance":{self.importance},"context":{self.context}}}'.encode()

    def insert_params(self) -> dict[str, Any]:
        """The parameters of queries.sql `insert`, as the service passes them."""
        return {
            "workspace": WORKSPACE,
            "agent_id": self.agent_id,
            "context": self.context,
            "tags": self.tags,
            "importance": self.importance,
            "expires_at": None,
            "ttl_seconds": None,
        }


def batch_insert_params(memories: Sequence[Memory]) -> dict[str, Any]:
    """The parameters of queries.sql `insert_batch`, as the service passes them."""
    return {
        "workspace": WORKSPACE,
        "ids": [uuid.uuid4() for _ in memories],
        "agent_ids": [m.agent_id for m in memories],
        "contexts": [m.context for m in memories],
        "tags": [json.dumps(m.tags) for m in memories],
        "importances": [m.importance for m in memories],
        "expires": [None] * len(memories),
        "ttls": [None] * len(memories),
    }


def fake_memory(rng: random.Random) -> Memory:
    context = {
        "kind": rng.choice(KINDS),
        "summary": " ".join(rng.choices(VOCAB, k=20)),
        "step": rng.randint(1, 100_000),
        "source": "bench",
        "confidence": round(rng.random(), 3),
    }
    tags = [rng.choice(TOPICS), *rng.sample(TAG_POOL, 2)]
    compact = json.dumps(context, separators=(",", ":"))
    return Memory(rng.choice(AGENTS), compact, tags, round(rng.random(), 4))


async def load(conn: psycopg.AsyncConnection[Any], rng: random.Random, count: int) -> list[str]:
    """COPY `count` generated memories (created over the last 30 days); return their ids."""
    now, ids = dt.datetime.now(dt.UTC), []
    started = time.perf_counter()
    await conn.execute("SET statement_timeout = 0")  # a million rows take longer than 15 s
    # COPY's text format built here, 10k rows a write: a million rows in well under a minute
    # (write_row per row costs several times the generation). Generated contexts, tags and
    # agent ids hold no character that text format escapes (backslash, tab, newline).
    async with conn.cursor() as cur, cur.copy(COPY_SQL) as copy:
        for low in range(0, count, 10_000):
            lines = []
            for _ in range(min(10_000, count - low)):
                m = fake_memory(rng)
                memory_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                created = (now - dt.timedelta(seconds=rng.random() * 30 * 86400)).isoformat()
                lines.append(
                    f"{WORKSPACE}\t{memory_id}\t{m.agent_id}\t{m.context}\t"
                    f"{{{','.join(m.tags)}}}\t{m.importance!r}\t{created}\n"
                )
                ids.append(memory_id)
            await copy.write("".join(lines))
    await conn.execute("VACUUM ANALYZE memories")
    await conn.execute(SESSION_SETUP)
    cur = await conn.execute("SELECT count(*) FROM memories")
    total = (await cur.fetchone() or [0])[0]
    took = time.perf_counter() - started
    print(f"  loaded {count} memories in {took:.1f} s (table: {total})", flush=True)
    return ids


def sql_for(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The statement and parameters the service runs for a query body."""
    plan = QueryPlan(msgspec.convert(body, QueryIn), WORKSPACE, CURSORS)
    return SQL[f"query_{plan.order}"], plan.params


def uncached_body(rng: random.Random) -> dict[str, Any]:
    """Agent + tag filter with a `min_importance` that never repeats (always a cache miss)."""
    return {
        "agent_id": rng.choice(AGENTS),
        "tags": [rng.choice(TOPICS)],
        "min_importance": 0.3 + rng.random() * 1e-6,
    }


def peer_value(m: Memory) -> dict[str, Any]:
    """The value the peer stores for a memory: its context with tags and importance beside, and
    `topic` (the first tag), since the store's filter compares fields (no array containment)."""
    return {**json.loads(m.context), "tags": m.tags, "topic": m.tags[0], "importance": m.importance}


def peer_filter(body: dict[str, Any]) -> dict[str, Any]:
    """The peer's filter for an `uncached_body` (the agent is the namespace)."""
    return {"topic": body["tags"][0], "importance": {"$gte": body["min_importance"]}}


def rows_label(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows % 1_000_000 == 0 else f"{rows // 1000}k"


def share_body(sender: str, recipient: str | None, context: str) -> bytes:
    """A POST /v1/messages body (POST /v1/messages/broadcast without a recipient)."""
    to = "" if recipient is None else f'"to_agent":"{recipient}",'
    return f'{{"from_agent":"{sender}",{to}"context":{context}}}'.encode()


def message_params(sender: str, recipient: str | None, context: str) -> dict[str, Any]:
    """The parameters of messaging/queries.sql `publish_*`, as the service passes them."""
    return {
        "workspace": WORKSPACE, "from_agent": sender, "to_agent": recipient,
        "context": context, "priority": 1, "ttl_seconds": None,
    }  # fmt: skip


def stream_fields(message_id: str, body: bytes) -> dict[str, Any]:
    """A stream entry shaped like the service's (message id, body, expiry, retry flag)."""
    return {"id": message_id, "m": body, "exp": b"0", "r": b"0"}


def ack_body(ids: Sequence[str]) -> bytes:
    return b'{"ids":[' + b",".join(b'"%s"' % i.encode() for i in ids) + b"]}"


class _Taken(msgspec.Struct):
    id: str


class _Pending(msgspec.Struct):
    items: list[_Taken]


PENDING = msgspec.json.Decoder(_Pending)
