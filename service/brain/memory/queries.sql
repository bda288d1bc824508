-- Memories. Every statement is scoped by workspace; expired rows are never returned (G4).
-- `__FILTERS__` is the `filters` fragment below (repository.py puts it in when it loads the
-- file): the conditions every query of memories shares, ranked or not.
-- Expiries come back as epoch seconds (`expires`): Python only needs them for cache lifetimes, and
-- a float cannot fail to load where a datetime of the far future could.

-- name: insert
INSERT INTO memories (workspace, id, agent_id, context, tags, importance, expires_at, embedding,
                      embedding_space, embedding_pending)
VALUES (%(workspace)s, gen_random_uuid(), %(agent_id)s, %(context)s::jsonb, %(tags)s::text[],
        %(importance)s::float8,
        COALESCE(%(expires_at)s::timestamptz, now() + make_interval(secs => %(ttl_seconds)s::float8)),
        %(embedding)s::vector, %(embedding_space)s::text, %(embedding_pending)s::bool)
RETURNING id, extract(epoch FROM expires_at)::float8 AS expires, memory_json(memories) AS body

-- name: insert_batch
-- One statement for a whole batch (atomic in autocommit); ids come from the service, so that the
-- answer can list the memories in the order they were given.
INSERT INTO memories (workspace, id, agent_id, context, tags, importance, expires_at, embedding,
                      embedding_space, embedding_pending)
SELECT %(workspace)s, i.id, i.agent_id, i.context::jsonb,
       ARRAY(SELECT jsonb_array_elements_text(i.tags::jsonb)), i.importance,
       COALESCE(i.expires_at, now() + make_interval(secs => i.ttl_seconds)),
       i.embedding::vector, i.embedding_space, i.embedding_pending
FROM unnest(%(ids)s::uuid[], %(agent_ids)s::text[], %(contexts)s::text[], %(tags)s::text[],
            %(importances)s::float8[], %(expires)s::timestamptz[], %(ttls)s::float8[],
            %(embeddings)s::text[], %(embedding_spaces)s::text[], %(pendings)s::bool[])
     AS i(id, agent_id, context, tags, importance, expires_at, ttl_seconds, embedding,
          embedding_space, embedding_pending)
RETURNING id, extract(epoch FROM expires_at)::float8 AS expires, memory_json(memories) AS body

-- name: get
SELECT extract(epoch FROM m.expires_at)::float8 AS expires, memory_json(m) AS body
FROM memories m
WHERE m.workspace = %(workspace)s AND m.id = %(id)s::uuid
  AND (m.expires_at IS NULL OR m.expires_at > now())

-- name: delete
DELETE FROM memories
WHERE workspace = %(workspace)s AND id = %(id)s::uuid
  AND (expires_at IS NULL OR expires_at > now())
  AND (%(agent_id)s::text IS NULL OR agent_id = %(agent_id)s::text)
RETURNING agent_id

-- name: query_recent
SELECT m.id, m.created_at, m.importance, extract(epoch FROM m.expires_at)::float8 AS expires,
       memory_json(m) AS body
FROM memories m
WHERE __FILTERS__
  AND (%(text)s::text IS NULL OR m.search @@ websearch_to_tsquery('english', %(text)s::text))
  AND (%(after_created_at)s::timestamptz IS NULL
       OR (m.created_at, m.id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
ORDER BY m.created_at DESC, m.id DESC
LIMIT %(limit)s

-- name: query_importance
SELECT m.id, m.created_at, m.importance, extract(epoch FROM m.expires_at)::float8 AS expires,
       memory_json(m) AS body
FROM memories m
WHERE __FILTERS__
  AND (%(text)s::text IS NULL OR m.search @@ websearch_to_tsquery('english', %(text)s::text))
  AND (%(after_created_at)s::timestamptz IS NULL
       OR (m.importance, m.created_at, m.id)
          < (%(after_importance)s::float8, %(after_created_at)s::timestamptz, %(after_id)s::uuid))
ORDER BY m.importance DESC, m.created_at DESC, m.id DESC
LIMIT %(limit)s

-- name: count_live
SELECT count(*) AS memories
FROM memories
WHERE workspace = %(workspace)s AND (expires_at IS NULL OR expires_at > now())

-- name: count_by_agent
SELECT agent_id, count(*) AS memories
FROM memories
WHERE workspace = %(workspace)s AND (expires_at IS NULL OR expires_at > now())
GROUP BY agent_id
ORDER BY memories DESC, agent_id
LIMIT %(limit)s

-- name: delete_expired
WITH doomed AS (
    SELECT id FROM memories
    WHERE workspace = %(workspace)s AND expires_at <= now()
    LIMIT %(batch)s
)
DELETE FROM memories m USING doomed
WHERE m.workspace = %(workspace)s AND m.id = doomed.id

-- name: delete_all
DELETE FROM memories WHERE workspace = %(workspace)s

-- name: lexemes
-- How many search terms `text` has once PostgreSQL drops stop words and punctuation (0: none).
SELECT numnode(websearch_to_tsquery('english', %(text)s::text)) AS nodes

-- name: export_page
-- An agent's memories, oldest first (expired ones not yet cleaned up too: all that is held).
SELECT m.created_at, m.id, memory_json(m) AS body
FROM memories m
WHERE m.workspace = %(workspace)s AND m.agent_id = %(agent_id)s
  AND (%(after_created_at)s::timestamptz IS NULL
       OR (m.created_at, m.id) > (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
ORDER BY m.created_at, m.id
LIMIT %(limit)s

-- name: purge
DELETE FROM memories WHERE workspace = %(workspace)s AND agent_id = %(agent_id)s

-- name: count_by_space
-- Live memories per embedding space (NULL: no vector; `waiting`: stored while the model was down).
SELECT embedding_space AS space, count(*) AS memories,
       count(*) FILTER (WHERE embedding_pending) AS waiting
FROM memories
WHERE workspace = %(workspace)s AND (expires_at IS NULL OR expires_at > now())
GROUP BY embedding_space
ORDER BY embedding_space NULLS LAST

-- name: spaces_elsewhere
-- Across workspaces: live memories with a vector of another space than `space`.
SELECT embedding_space AS space, count(*) AS memories
FROM memories
WHERE embedding_space IS DISTINCT FROM %(space)s::text AND embedding_space IS NOT NULL
  AND (expires_at IS NULL OR expires_at > now())
GROUP BY embedding_space
ORDER BY embedding_space

-- name: waiting
-- Across workspaces: memories waiting for their vector, oldest first.
SELECT workspace, id, agent_id, context
FROM memories
WHERE embedding_pending AND (expires_at IS NULL OR expires_at > now())
ORDER BY created_at
LIMIT %(limit)s

-- name: not_in_space
-- Across workspaces, for `brain reembed`: live memories whose vector is not of `space` (another
-- model's, a client's of another space, none yet), in primary-key order after (workspace, id).
SELECT workspace, id, agent_id, context
FROM memories
WHERE (workspace, id) > (%(after_workspace)s::text, %(after_id)s::uuid)
  AND embedding_space IS DISTINCT FROM %(space)s::text
  AND (expires_at IS NULL OR expires_at > now())
ORDER BY workspace, id
LIMIT %(limit)s

-- name: count_not_in_space
SELECT count(*) AS memories
FROM memories
WHERE embedding_space IS DISTINCT FROM %(space)s::text
  AND (expires_at IS NULL OR expires_at > now())

-- name: set_vectors
-- Vectors of `space` for the rows given; a row given none (it has no text) waits no more and keeps
-- what it has. A row that meanwhile got a vector of that space keeps it.
UPDATE memories m
SET embedding = COALESCE(v.embedding::vector, m.embedding),
    embedding_space = CASE WHEN v.embedding IS NULL THEN m.embedding_space ELSE %(space)s::text END,
    embedding_pending = false
FROM unnest(%(workspaces)s::text[], %(ids)s::uuid[], %(embeddings)s::text[])
     AS v(workspace, id, embedding)
WHERE m.workspace = v.workspace AND m.id = v.id
  AND m.embedding_space IS DISTINCT FROM %(space)s::text
RETURNING m.workspace, m.agent_id

-- name: nearest_of_agent
-- Dedupe: the agent's live memory nearest to %(vector)s in the space (the HNSW index, filtered).
SELECT 1 - (m.embedding::vector(__DIMS__) <=> %(vector)s::vector(__DIMS__)) AS similarity,
       m.id, memory_json(m) AS body
FROM memories m
WHERE m.workspace = %(workspace)s AND m.agent_id = %(agent_id)s
  AND m.embedding_space = %(space)s::text
  AND (m.expires_at IS NULL OR m.expires_at > now())
ORDER BY m.embedding::vector(__DIMS__) <=> %(vector)s::vector(__DIMS__)
LIMIT 1

-- name: agent_lock
-- Dedupe: stores of one agent that ask for it take turns (until their transaction ends).
SELECT pg_advisory_xact_lock(hashtextextended('brain.dedupe/' || %(workspace)s || '/' || %(agent_id)s, 0))

-- Ranked queries (repository.ranked_sql): `filters` is shared by both rankings too; __DIMS__ is the
-- embedding space's dimension (an integer: a type modifier cannot be a parameter), so that the
-- ORDER BY matches the space's partial HNSW index, whose predicate the equality on
-- embedding_space proves (each call is planned with its values). The session runs
-- hnsw.iterative_scan = strict_order: filters apply inside the index scan, which goes on until
-- `limit` rows pass them (or hnsw.max_scan_tuples).

-- name: filters
    m.workspace = %(workspace)s
      AND (m.expires_at IS NULL OR m.expires_at > now())
      AND (%(agent_id)s::text IS NULL OR m.agent_id = %(agent_id)s::text)
      AND (%(agent_ids)s::text[] IS NULL OR m.agent_id = ANY (%(agent_ids)s::text[]))
      AND (%(tags_any)s::text[] IS NULL OR m.tags && %(tags_any)s::text[])
      AND (%(tags_all)s::text[] IS NULL OR m.tags @> %(tags_all)s::text[])
      AND (%(min_importance)s::float8 IS NULL OR m.importance >= %(min_importance)s::float8)
      AND (%(since)s::timestamptz IS NULL OR m.created_at >= %(since)s::timestamptz)
      AND (%(until)s::timestamptz IS NULL OR m.created_at < %(until)s::timestamptz)

-- name: query_semantic
-- Nearest first; ties (the same text twice) by id, so that the cursor (distance, id) neither
-- repeats nor skips one. The index orders by distance alone, so the scan takes %(ties)s rows
-- more than the page, and this query orders them by (distance, id): a page boundary falls
-- inside a run of equal distances safely unless the run is longer than that.
WITH nearest AS MATERIALIZED (
    SELECT m.id, m.embedding::vector(__DIMS__) <=> %(vector)s::vector(__DIMS__) AS distance
    FROM memories m
    WHERE __FILTERS__
      AND m.embedding_space = %(space)s::text
      AND (%(after_key)s::float8 IS NULL
           OR (m.embedding::vector(__DIMS__) <=> %(vector)s::vector(__DIMS__), m.id)
              > (%(after_key)s::float8, %(after_id)s::uuid))
    ORDER BY m.embedding::vector(__DIMS__) <=> %(vector)s::vector(__DIMS__)
    LIMIT %(limit)s + %(ties)s
)
SELECT n.id, n.distance AS rank_key, 1 - n.distance AS score,
       extract(epoch FROM m.expires_at)::float8 AS expires, memory_json(m) AS body
FROM nearest n
JOIN memories m ON m.workspace = %(workspace)s AND m.id = n.id
WHERE %(min_score)s::float8 IS NULL OR 1 - n.distance >= %(min_score)s::float8
ORDER BY n.distance, n.id
LIMIT %(limit)s

-- name: query_hybrid
-- Reciprocal rank fusion: score = sum over the two rankings (by meaning, by words) of
-- 1 / (k + rank), each ranking its top %(candidates)s under the same filters.
WITH by_meaning AS MATERIALIZED (
    SELECT n.id, row_number() OVER (ORDER BY n.distance, n.id) AS rank
    FROM (
        SELECT m.id, m.embedding::vector(__DIMS__) <=> %(vector)s::vector(__DIMS__) AS distance
        FROM memories m
        WHERE __FILTERS__ AND m.embedding_space = %(space)s::text
        ORDER BY m.embedding::vector(__DIMS__) <=> %(vector)s::vector(__DIMS__)
        LIMIT %(candidates)s
    ) n
), by_words AS MATERIALIZED (
    SELECT w.id, row_number() OVER (ORDER BY w.relevance DESC, w.id) AS rank
    FROM (
        SELECT m.id, ts_rank_cd(m.search, websearch_to_tsquery('english', %(text)s::text)) AS relevance
        FROM memories m
        WHERE __FILTERS__ AND m.search @@ websearch_to_tsquery('english', %(text)s::text)
        ORDER BY relevance DESC, m.id
        LIMIT %(candidates)s
    ) w
), fused AS (
    SELECT r.id, sum(1.0::float8 / (%(k)s::float8 + r.rank)) AS score
    FROM (SELECT * FROM by_meaning UNION ALL SELECT * FROM by_words) r
    GROUP BY r.id
), page AS MATERIALIZED (  -- the page first: then the rows are fetched by primary key
    SELECT f.id, f.score
    FROM fused f
    WHERE (%(min_score)s::float8 IS NULL OR f.score >= %(min_score)s::float8)
      AND (%(after_key)s::float8 IS NULL
           OR (-f.score, f.id) > (%(after_key)s::float8, %(after_id)s::uuid))
    ORDER BY f.score DESC, f.id
    LIMIT %(limit)s
)
SELECT p.id, -p.score AS rank_key, p.score,
       extract(epoch FROM m.expires_at)::float8 AS expires, memory_json(m) AS body
FROM page p
JOIN memories m ON m.workspace = %(workspace)s AND m.id = p.id
ORDER BY p.score DESC, p.id
