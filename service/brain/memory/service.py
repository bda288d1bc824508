"""Memory rules: validation beyond shapes, transactions, idempotency and the cache."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import msgspec
import psycopg

from brain.kit import (
    background,
    batching,
    cache,
    db,
    embeddings,
    errors,
    fields,
    http,
    idempotency,
    pagination,
)
from brain.memory import repository
from brain.memory.schemas import MAX_BATCH, BatchIn, MemoryIn, QueryIn
from brain.observability import metrics

log = logging.getLogger("brain.memory")

Page = tuple[bytes, cache.Outcome]
EXPORT_PAGE = 500
HYBRID_CANDIDATES = (4, 40, 200)
"""Hybrid queries fuse the top (4 x limit, within 40..200) of each ranking (by meaning, by words):
their pages end there. The ranking by meaning costs in proportion (make bench: 200 candidates
under a 10 % filter took 4.5 times a page of 10 by meaning alone)."""
TIES = 32
"""Rows a query by meaning reads beyond its page, so that equal distances (the same text stored
again) are ordered by id across a page boundary (memory/queries.sql, query_semantic)."""
RRF_K = 60
"""Reciprocal rank fusion's k: score = sum of 1 / (k + rank) over the two rankings (the usual 60
of Cormack et al.; the rankings weigh the same)."""
STORES_IN_FLIGHT = 1
"""Stores without an Idempotency-Key: INSERTs running at once per process and workspace; what
arrives meanwhile goes in the next one, together (`batching`)."""
BACKFILL_SECONDS = 5.0
"""How often the backfill looks for memories stored while the model was down."""
BACKFILL_BATCH = 64
SAME_VECTOR = 1e-6
"""Dedupe: similarities within this of the threshold count as reaching it (a vector compared
with itself comes out a few 1e-7 short of 1 in float32)."""


def _expiry(row: dict[str, Any]) -> float | None:
    expires: float | None = row["expires"]
    return expires


async def _insert_together(
    conn: db.Conn, workspace: str, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Checked memories in one `insert_batch` statement; their rows in the order given (ids come
    from here: PostgreSQL does not promise RETURNING in input order)."""
    ids = [uuid.uuid4() for _ in items]
    by_id = await repository.insert_batch(
        conn,
        {
            "workspace": workspace,
            "ids": ids,
            "agent_ids": [i["agent_id"] for i in items],
            "contexts": [i["context"] for i in items],
            "tags": [msgspec.json.encode(i["tags"]).decode() for i in items],
            "importances": [i["importance"] for i in items],
            "expires": [i["expires_at"] for i in items],
            "ttls": [i["ttl_seconds"] for i in items],
            "embeddings": [i["embedding"] for i in items],
            "embedding_spaces": [i["embedding_space"] for i in items],
            "pendings": [i["embedding_pending"] for i in items],
        },
    )
    return [by_id[i] for i in ids]


async def _insert_alone(
    conn: db.Conn, workspace: str, item: dict[str, Any]
) -> dict[str, Any] | Exception:
    """One checked memory's INSERT: its row, or the error its request would have had alone."""
    try:
        with db.translated():
            return await repository.insert(conn, {"workspace": workspace, **item})
    except (errors.BrainError, psycopg.DataError, psycopg.IntegrityError) as exc:
        return exc


def _refused(exc: psycopg.Error) -> bool:
    """Whether PostgreSQL itself refused a statement (it then wrote nothing: one statement in
    autocommit is atomic), as opposed to an error raised on this side, such as a value psycopg
    cannot load from the answer of a statement that did commit."""
    return exc.sqlstate is not None


class QueryPlan:
    """A query normalised once: SQL parameters, the cursor scope and the cache digest."""

    def __init__(
        self,
        q: QueryIn,
        workspace: str,
        cursors: pagination.Cursors,
        embedder: embeddings.Embedder | None = None,
    ) -> None:
        if q.agent_id is not None and q.agent_ids is not None:
            raise errors.Invalid("give agent_id or agent_ids, not both", field="agent_ids")
        if q.since is not None and q.until is not None and q.since >= q.until:
            raise errors.Invalid("until must be later than since", field="until")
        ranked = q.semantic is not None or q.vector is not None
        _check_ranking(q, ranked, embedder)
        agents = [q.agent_id] if q.agent_id else sorted(set(q.agent_ids)) if q.agent_ids else None
        tags = sorted(fields.tags(q.tags)) if q.tags else None
        self.order = "relevance" if ranked else q.order or "recent"
        self.kind = ("hybrid" if q.text is not None else "semantic") if ranked else None
        self.semantic = q.semantic
        self.agent_ids = agents
        self.limit = q.limit
        self.cursors = cursors
        self.space = embedder.space if ranked and embedder else None
        self.dimensions = embedder.dimensions if ranked and embedder else 0
        self.params: dict[str, Any] = {
            "workspace": workspace,
            # One agent by equality: PostgreSQL walks that agent's index in order for it, where
            # for `= ANY (array)` it scans the workspace's newest rows and filters.
            "agent_id": agents[0] if agents and len(agents) == 1 else None,
            "agent_ids": agents if agents and len(agents) > 1 else None,
            "tags_any": tags if q.match == "any" else None,
            "tags_all": tags if q.match == "all" else None,
            "min_importance": q.min_importance,
            "since": q.since,
            "until": q.until,
            "text": q.text,
            "limit": q.limit + 1,  # one more row tells whether there is a next page
            "after_created_at": None,
            "after_id": None,
            "after_importance": None,
        }
        vector = None
        if q.vector is not None:
            vector = embeddings.checked(q.vector, self.dimensions or None, "vector")
        per_item, fewest, most = HYBRID_CANDIDATES
        candidates = min(most, max(fewest, per_item * q.limit))
        if ranked:
            self.params.update(
                space=self.space, vector=vector, min_score=q.min_score, after_key=None,
                candidates=candidates, k=RRF_K, ties=TIES,
            )  # fmt: skip
        filters = [q.order, agents, tags, q.match, q.min_importance, q.since, q.until, q.text]
        if ranked:
            filters += [self.space, q.semantic, vector, q.min_score]
        if self.kind == "hybrid":  # its candidates follow the page size: pages keep to one
            filters.append(candidates)
        self.scope = pagination.scope("memories", workspace, *filters)
        if q.cursor is not None and ranked:
            ranked_at = cursors.decode(q.cursor, self.scope, pagination.Ranked)
            self.params["after_key"] = ranked_at.key
            self.params["after_id"] = ranked_at.id
        elif q.cursor is not None:
            position = cursors.decode(q.cursor, self.scope, pagination.Position)
            self.params["after_created_at"] = position.created_at
            self.params["after_id"] = position.id
            self.params["after_importance"] = position.importance
        page = msgspec.json.encode([self.scope, q.limit, q.cursor])
        self.digest = hashlib.blake2b(page, digest_size=16).hexdigest()

    def cursor_after(self, row: dict[str, Any]) -> str:
        if self.kind is not None:
            return self.cursors.encode(self.scope, pagination.Ranked(row["rank_key"], row["id"]))
        importance = row["importance"] if self.order == "importance" else None
        position = pagination.Position(row["created_at"], row["id"], importance)
        return self.cursors.encode(self.scope, position)


def _check_ranking(q: QueryIn, ranked: bool, embedder: embeddings.Embedder | None) -> None:
    """The rules of ranked queries beyond their shapes (422 naming the field)."""
    if q.semantic is not None and q.vector is not None:
        raise errors.Invalid("give semantic or vector, not both", field="vector")
    if q.semantic is not None and (embedder is None or not embedder.embeds):
        raise errors.Invalid(
            "this Brain has no embedding model (BRAIN_EMBEDDINGS=none): search by meaning needs "
            "one, or send `vector`",
            field="semantic",
        )
    if not ranked and q.min_score is not None:
        raise errors.Invalid("min_score needs semantic or vector", field="min_score")
    if ranked and q.order not in (None, "relevance"):
        raise errors.Invalid(
            "queries by meaning (semantic, vector) are ordered by relevance", field="order"
        )
    if not ranked and q.order == "relevance":
        raise errors.Invalid("order relevance needs semantic or vector", field="order")


def _with_score(row: dict[str, Any]) -> str:
    """A ranked row's memory JSON with its `score`."""
    body = str(row["body"])
    return f'{body[:-1]},"score":{float(row["score"])!r}}}'


class MemoryService:
    key = "memories"  # kit.areas.WorkspaceData

    def __init__(
        self,
        database: db.Database,
        memo: cache.Cache,
        max_context_bytes: int,
        cursors: pagination.Cursors,
        embedder: embeddings.Embedder | None = None,
    ) -> None:
        self.db = database
        self.cache = memo
        self.max_context_bytes = max_context_bytes
        self.cursors = cursors
        self.embedder = embedder
        self._stores: dict[str, batching.Coalescer[dict[str, Any], dict[str, Any]]] = {}

    def _checked(self, data: MemoryIn, at: str = "") -> dict[str, Any]:
        """One memory's rules beyond its shape; its values for the INSERT. `at` prefixes the
        field names of errors (a batch item: "items[3].")."""
        context = fields.context_size(data.context, self.max_context_bytes, f"{at}context")
        if data.ttl_seconds is not None and data.expires_at is not None:
            raise errors.Invalid(
                "give ttl_seconds or expires_at, not both", field=f"{at}expires_at"
            )
        if data.expires_at is not None:
            fields.expiry(data.expires_at, f"{at}expires_at")
        embedding = None
        if data.embedding is not None:
            dimensions = self.embedder.dimensions if self.embedder else None
            embedding = embeddings.checked(data.embedding, dimensions, f"{at}embedding")
        return {
            "agent_id": data.agent_id,
            "context": context.decode(),
            "tags": fields.tags(data.tags, f"{at}tags"),
            "importance": data.importance,
            "expires_at": data.expires_at,
            "ttl_seconds": data.ttl_seconds,
            "embedding": embedding,
            "embedding_space": self.embedder.space if embedding and self.embedder else None,
            "embedding_pending": False,
        }

    async def _embedded(
        self, items: list[dict[str, Any]], data: list[MemoryIn], *, required: bool = False
    ) -> None:
        """Give checked memories without a client's vector the model's (one call for all; a
        memory without text gets none). Should the model be unavailable, they are stored
        waiting for it (the backfill), or, when `required`, the store fails (503)."""
        if self.embedder is None or not self.embedder.embeds:
            return
        todo = [
            (item, text)
            for item, d in zip(items, data, strict=True)
            if item["embedding"] is None and (text := embeddings.text_of(d.context))
        ]
        if not todo:
            return
        try:
            vectors = await self.embedder.embed([text for _, text in todo])
        except errors.Unavailable:
            if required:
                raise
            metrics.EMBEDDINGS_DEFERRED.inc(len(todo))
            for item, _ in todo:
                item["embedding_pending"] = True
            return
        for (item, _), vector in zip(todo, vectors, strict=True):
            item["embedding"] = embeddings.literal(vector)
            item["embedding_space"] = self.embedder.space

    async def store(self, workspace: str, data: MemoryIn, key: str | None) -> idempotency.Answer:
        """Commit a memory (G1), retire cached results it changes, then answer 201.

        Without an Idempotency-Key, stores that arrive together share one INSERT and one Redis
        round trip (`batching`); each is answered once all of them are committed."""
        params = self._checked(data)
        key = idempotency.check_key(key)
        if data.dedupe is not None:
            return await self._store_new(workspace, data, params, key, data.dedupe.threshold)
        await self._embedded([params], [data])
        if key is None:
            row = await self._coalescer(workspace).submit(params)
            return idempotency.Answer(201, row["body"].encode())
        written: dict[str, Any] = {}

        async def write(conn: db.Conn) -> idempotency.Answer:
            row = await repository.insert(conn, {"workspace": workspace, **params})
            written.update(row)
            return idempotency.Answer(201, row["body"].encode())

        request_hash = idempotency.fingerprint("POST /v1/memories", data, key)
        token = self.cache.memory_token(workspace)
        answer = await idempotency.run(
            self.db, workspace, key, request_hash, write, single_statement=True
        )
        if not answer.replayed:
            await self._written(workspace, [data.agent_id], token, [written])
        return answer

    async def _store_new(
        self,
        workspace: str,
        data: MemoryIn,
        params: dict[str, Any],
        key: str | None,
        threshold: float,
    ) -> idempotency.Answer:
        """A store with `dedupe`: unless a live memory of the same agent is at least
        `threshold` similar (then 200 with it and `duplicate_of`), as any store. The agent's
        dedupe stores take turns (an advisory lock), so that two alike at once insert one."""
        if self.embedder is None:
            raise errors.Invalid(
                "dedupe compares vectors, and this Brain has none (BRAIN_EMBEDDINGS)",
                field="dedupe",
            )
        await self._embedded([params], [data], required=True)
        if params["embedding"] is None:
            raise errors.Invalid(
                "dedupe needs a vector: this memory has no text to embed (no string or number "
                "values)"
                if self.embedder.embeds
                else "dedupe needs a vector: send `embedding` (this Brain has no model)",
                field="dedupe",
            )
        embedder, written = self.embedder, {}

        async def write(conn: db.Conn) -> idempotency.Answer:
            await repository.lock_agent(conn, workspace, data.agent_id)
            near = await repository.nearest_of_agent(
                conn, embedder.dimensions,
                {"workspace": workspace, "agent_id": data.agent_id, "space": embedder.space,
                 "vector": params["embedding"]},
            )  # fmt: skip
            if near is not None and float(near["similarity"]) >= threshold - SAME_VECTOR:
                body = str(near["body"])
                return idempotency.Answer(
                    200, f'{body[:-1]},"duplicate_of":"{near["id"]}"}}'.encode()
                )
            row = await repository.insert(conn, {"workspace": workspace, **params})
            written.update(row)
            return idempotency.Answer(201, row["body"].encode())

        request_hash = idempotency.fingerprint("POST /v1/memories", data, key)
        token = self.cache.memory_token(workspace)
        answer = await idempotency.run(self.db, workspace, key, request_hash, write)
        if written:
            await self._written(workspace, [data.agent_id], token, [written])
        elif not answer.replayed:
            metrics.DUPLICATES_FOUND.inc()
        return answer

    def _coalescer(self, workspace: str) -> batching.Coalescer[dict[str, Any], dict[str, Any]]:
        stores = self._stores.get(workspace)
        if stores is None:

            async def flush(items: list[dict[str, Any]]) -> list[dict[str, Any] | Exception]:
                return await self._store_together(workspace, items)

            stores = batching.Coalescer(flush, max_items=MAX_BATCH, parallel=STORES_IN_FLIGHT)
            self._stores[workspace] = stores
        return stores

    async def _store_together(
        self, workspace: str, items: list[dict[str, Any]]
    ) -> list[dict[str, Any] | Exception]:
        """Checked memories of separate requests, committed in one statement: their rows.

        Should the database refuse the statement for what one memory holds (nothing the checks
        let through is known to), each is stored alone, so that only that request fails. Only
        then: one 201 is one row, whatever else shared the statement."""
        token = self.cache.memory_token(workspace)
        results: list[dict[str, Any] | Exception]
        async with self.db.connection(workspace=workspace, write=True) as conn:
            if len(items) == 1:
                results = [await repository.insert(conn, {"workspace": workspace, **items[0]})]
            else:
                try:
                    results = list(await _insert_together(conn, workspace, items))
                except (psycopg.DataError, psycopg.IntegrityError) as exc:
                    if not _refused(exc):  # it may have committed: storing again would double
                        raise
                    results = [await _insert_alone(conn, workspace, item) for item in items]
        stored = [
            (i, r) for i, r in zip(items, results, strict=True) if not isinstance(r, Exception)
        ]
        await self._written(
            workspace, [i["agent_id"] for i, _ in stored], token, [r for _, r in stored]
        )
        return results

    async def _written(
        self,
        workspace: str,
        agent_ids: list[str],
        token: bytes | None,
        rows: list[dict[str, Any]],
    ) -> None:
        """After memories are committed: count them, retire what they change, write them through."""
        metrics.MEMORIES_WRITTEN.inc(len(rows))
        written = [(str(r["id"]), r["body"].encode(), _expiry(r)) for r in rows]
        await self.cache.stored_many(workspace, agent_ids, token, written)

    async def store_batch(
        self, workspace: str, data: BatchIn, key: str | None
    ) -> idempotency.Answer:
        """Commit up to MAX_BATCH memories in one statement (all or none), retire what they
        change in one Redis round trip, then answer 201 with them in the order given."""
        items = [self._checked(item, f"items[{n}].") for n, item in enumerate(data.items)]
        key = idempotency.check_key(key)
        await self._embedded(items, data.items)
        rows: list[dict[str, Any]] = []

        async def write(conn: db.Conn) -> idempotency.Answer:
            rows.extend(await _insert_together(conn, workspace, items))
            return idempotency.Answer(201, http.items_body([r["body"] for r in rows]))

        request_hash = idempotency.fingerprint("POST /v1/memories/batch", data, key)
        token = self.cache.memory_token(workspace)
        answer = await idempotency.run(
            self.db, workspace, key, request_hash, write, single_statement=True
        )
        if not answer.replayed:
            await self._written(workspace, [i["agent_id"] for i in items], token, rows)
        return answer

    async def get(self, workspace: str, memory_id: uuid.UUID) -> Page:
        lookup = await self.cache.get_memory(workspace, str(memory_id))
        if lookup.body is not None:
            return lookup.body, lookup.outcome
        row = await repository.get(self.db, workspace, memory_id)
        if row is None:
            raise errors.NotFound(f"memory {memory_id} does not exist or has expired")
        body = row["body"].encode()
        await self.cache.put_memory(workspace, str(memory_id), lookup, body, _expiry(row))
        return body, lookup.outcome

    async def delete(
        self, workspace: str, memory_id: uuid.UUID, only_agent: str | None = None
    ) -> None:
        """Delete a live memory (`only_agent`: only if it is that agent's)."""
        agent_id = await repository.delete(self.db, workspace, memory_id, only_agent)
        if agent_id is None:
            if only_agent is not None and await repository.get(self.db, workspace, memory_id):
                raise errors.Forbidden(
                    f"this key acts as agent {only_agent!r} only, and the memory is another "
                    "agent's",
                    field="memory_id",
                )
            raise errors.NotFound(f"memory {memory_id} does not exist or has expired")
        await self.cache.invalidate(workspace, [agent_id], deleted=True)

    async def query(self, workspace: str, q: QueryIn) -> Page:
        plan = QueryPlan(q, workspace, self.cursors, self.embedder)
        lookup = await self.cache.get_query(workspace, plan.digest, plan.agent_ids)
        if lookup.body is not None:
            return lookup.body, lookup.outcome
        if plan.kind == "hybrid" and q.text is not None:
            await self._check_words(workspace, q.text)  # else it would rank by meaning alone
        if plan.kind is not None:
            return await self._ranked(workspace, plan, lookup)
        rows = await repository.query(self.db, plan.order, plan.params)
        if not rows and q.text is not None:
            await self._check_words(workspace, q.text)
        body, served = pagination.page(rows, plan.limit, plan.cursor_after)
        await self.cache.put_query(workspace, plan.digest, lookup, body, map(_expiry, served))
        return body, lookup.outcome

    async def _check_words(self, workspace: str, text: str) -> None:
        if not await repository.lexemes(self.db, workspace, text):
            raise errors.Invalid(
                "text has no words to search for: only stop words (such as 'the' or 'and') or "
                "punctuation",
                field="text",
            )

    async def _ranked(self, workspace: str, plan: QueryPlan, lookup: cache.Lookup) -> Page:
        """A query by meaning (or hybrid) the cache did not hold: embed `semantic` once, rank."""
        assert plan.kind is not None and self.embedder is not None
        if plan.semantic is not None:
            [vector] = await self.embedder.embed([plan.semantic])
            plan.params["vector"] = embeddings.literal(vector)
        rows = await repository.ranked(self.db, plan.kind, plan.dimensions, plan.params)
        bodies = [_with_score(r) for r in rows]
        body, served = pagination.page(rows, plan.limit, plan.cursor_after, bodies)
        await self.cache.put_query(workspace, plan.digest, lookup, body, map(_expiry, served))
        return body, lookup.outcome

    async def history(self, workspace: str, agent_id: str, limit: int, cursor: str | None) -> Page:
        """An agent's memories, newest first: the query with only that agent as filter."""
        return await self.query(workspace, QueryIn(agent_id=agent_id, limit=limit, cursor=cursor))

    # -- its data per workspace (kit.areas.WorkspaceData) ---------------------------------------

    async def counts(self, workspace: str) -> dict[str, Any]:
        """Live memories: the total, per agent for the `fields.STATS_TOP_AGENTS` with most, and
        per embedding space (`none`: without a vector; `waiting`: for the model's)."""
        total, rows = await repository.counts(self.db, workspace, fields.STATS_TOP_AGENTS)
        spaces = await repository.counts_by_space(self.db, workspace)
        return {
            "total": total,
            "by_agent": {r["agent_id"]: r["memories"] for r in rows},
            "by_embedding_space": {r["space"] or "none": r["memories"] for r in spaces},
            "waiting_for_embedding": sum(r["waiting"] for r in spaces),
            "embedding_space": self.embedder.space if self.embedder else None,
        }

    # -- vectors filled in later: the backfill, `brain reembed` ---------------------------------

    def background(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        """With a model: the backfill of memories stored while it was down (kit.areas)."""
        if self.embedder is None:
            return []
        jobs = [self._check_spaces()]
        if self.embedder.embeds:
            jobs.append(background.every(BACKFILL_SECONDS, stop, self._backfill_round))
        return jobs

    async def _check_spaces(self) -> None:
        """At start: say so if memories have vectors of another space (a model change)."""
        try:
            others = await self.other_spaces()
        except errors.Unavailable:
            return
        for space_name, count in others.items():
            log.warning(
                "%d memories have vectors of the embedding space %s, not of %s (configured): "
                "search by meaning does not find them until `brain reembed`",
                count, space_name, self.embedder.space if self.embedder else None,
            )  # fmt: skip

    async def drain(self) -> None:
        return None

    async def _backfill_round(self) -> None:
        try:
            while await self.backfill() == BACKFILL_BATCH:
                pass
        except errors.Unavailable as exc:
            log.debug("backfill round skipped: %s", exc.detail)

    async def backfill(self, limit: int = BACKFILL_BATCH) -> int:
        """Give up to `limit` waiting memories (any workspace) their vectors; how many."""
        rows = await repository.waiting(self.db, limit)
        if rows:
            await self._embed_rows(rows)
        return len(rows)

    async def _embed_rows(self, rows: list[dict[str, Any]]) -> int:
        """Embed these rows' texts in the configured space and store the vectors; retire cached
        results they change. How many got a vector (the others have no text)."""
        assert self.embedder is not None and self.embedder.embeds
        texts = [embeddings.text_of(r["context"]) for r in rows]
        todo = [n for n, t in enumerate(texts) if t]
        vectors = await self.embedder.embed([texts[n] for n in todo]) if todo else []
        literal: dict[int, str] = {
            n: embeddings.literal(v) for n, v in zip(todo, vectors, strict=True)
        }
        changed = await repository.set_vectors(
            self.db,
            self.embedder.space,
            [(r["workspace"], r["id"], literal.get(n)) for n, r in enumerate(rows)],
        )
        agents: dict[str, set[str]] = {}
        for row in changed:
            agents.setdefault(row["workspace"], set()).add(row["agent_id"])
        for workspace, ids in agents.items():
            await self.cache.invalidate(workspace, ids, deleted=False)
        metrics.EMBEDDINGS_FILLED.inc(len(literal))
        return len(literal)

    async def reembed(
        self, batch: int, progress: Callable[[int, int, int], None]
    ) -> tuple[int, int]:
        """Give every live memory without a vector of the configured space one (another model's,
        a client's of another space, none yet), in primary-key order; `progress(done, embedded,
        total)` after each batch. Resumable: a memory done is not done again. (memories seen,
        memories embedded)."""
        assert self.embedder is not None and self.embedder.embeds
        total = await repository.count_not_in_space(self.db, self.embedder.space)
        after: tuple[str, uuid.UUID] = ("", uuid.UUID(int=0))
        seen = embedded = 0
        while rows := await repository.not_in_space(self.db, self.embedder.space, after, batch):
            embedded += await self._embed_rows(rows)
            seen += len(rows)
            after = (rows[-1]["workspace"], rows[-1]["id"])
            progress(seen, embedded, total)
        return seen, embedded

    async def other_spaces(self) -> dict[str, int]:
        """Live memories (all workspaces) with vectors of another space than the configured one:
        a model change that `brain reembed` has not caught up with."""
        if self.embedder is None:
            return {}
        rows = await repository.spaces_elsewhere(self.db, self.embedder.space)
        return {r["space"]: r["memories"] for r in rows}

    async def cleanup(self, workspace: str) -> dict[str, int]:
        """Delete expired rows (already invisible, so nothing cached changes)."""
        return {"expired_memories_deleted": await repository.delete_expired(self.db, workspace)}

    async def erase(self, conn: db.Conn, workspace: str) -> Callable[[], Awaitable[None]]:
        """Delete every memory; once that commits, retire every cache entry of the workspace."""
        await repository.delete_all(conn, workspace)
        return lambda: self.cache.invalidate_all(workspace)

    async def export(self, workspace: str, agent_id: str) -> AsyncIterator[bytes]:
        """The agent's memories, oldest first, one NDJSON line each."""
        after = None
        while True:
            rows = await repository.export_page(self.db, workspace, agent_id, after, EXPORT_PAGE)
            for row in rows:
                yield b'{"type":"memory","data":' + row["body"].encode() + b"}\n"
            if len(rows) < EXPORT_PAGE:
                return
            after = (rows[-1]["created_at"], rows[-1]["id"])

    async def purge(
        self, conn: db.Conn, workspace: str, agent_id: str
    ) -> Callable[[], Awaitable[None]]:
        """Delete the agent's memories; once that commits, retire what the cache holds of them."""
        await repository.purge(conn, workspace, agent_id)
        return lambda: self.cache.invalidate(workspace, [agent_id], deleted=True)
