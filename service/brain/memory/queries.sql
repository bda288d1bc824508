-- Memories. Every statement is scoped by workspace; expired rows are never returned (G4).
-- Expiries come back as epoch seconds (`expires`): Python only needs them for cache lifetimes, and
-- a float cannot fail to load where a datetime of the far future could.

-- name: insert
INSERT INTO memories (workspace, id, agent_id, context, tags, importance, expires_at)
VALUES (%(workspace)s, gen_random_uuid(), %(agent_id)s, %(context)s::jsonb, %(tags)s::text[],
        %(importance)s::float8,
        COALESCE(%(expires_at)s::timestamptz, now() + make_interval(secs => %(ttl_seconds)s::float8)))
RETURNING id, extract(epoch FROM expires_at)::float8 AS expires, memory_json(memories) AS body

-- name: insert_batch
-- One statement for a whole batch (atomic in autocommit); ids come from the service, so that the
-- answer can list the memories in the order they were given.
INSERT INTO memories (workspace, id, agent_id, context, tags, importance, expires_at)
SELECT %(workspace)s, i.id, i.agent_id, i.context::jsonb,
       ARRAY(SELECT jsonb_array_elements_text(i.tags::jsonb)), i.importance,
       COALESCE(i.expires_at, now() + make_interval(secs => i.ttl_seconds))
FROM unnest(%(ids)s::uuid[], %(agent_ids)s::text[], %(contexts)s::text[], %(tags)s::text[],
            %(importances)s::float8[], %(expires)s::timestamptz[], %(ttls)s::float8[])
     AS i(id, agent_id, context, tags, importance, expires_at, ttl_seconds)
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
WHERE m.workspace = %(workspace)s
  AND (m.expires_at IS NULL OR m.expires_at > now())
  AND (%(agent_id)s::text IS NULL OR m.agent_id = %(agent_id)s::text)
  AND (%(agent_ids)s::text[] IS NULL OR m.agent_id = ANY (%(agent_ids)s::text[]))
  AND (%(tags_any)s::text[] IS NULL OR m.tags && %(tags_any)s::text[])
  AND (%(tags_all)s::text[] IS NULL OR m.tags @> %(tags_all)s::text[])
  AND (%(min_importance)s::float8 IS NULL OR m.importance >= %(min_importance)s::float8)
  AND (%(since)s::timestamptz IS NULL OR m.created_at >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR m.created_at < %(until)s::timestamptz)
  AND (%(text)s::text IS NULL OR m.search @@ websearch_to_tsquery('english', %(text)s::text))
  AND (%(after_created_at)s::timestamptz IS NULL
       OR (m.created_at, m.id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
ORDER BY m.created_at DESC, m.id DESC
LIMIT %(limit)s

-- name: query_importance
SELECT m.id, m.created_at, m.importance, extract(epoch FROM m.expires_at)::float8 AS expires,
       memory_json(m) AS body
FROM memories m
WHERE m.workspace = %(workspace)s
  AND (m.expires_at IS NULL OR m.expires_at > now())
  AND (%(agent_id)s::text IS NULL OR m.agent_id = %(agent_id)s::text)
  AND (%(agent_ids)s::text[] IS NULL OR m.agent_id = ANY (%(agent_ids)s::text[]))
  AND (%(tags_any)s::text[] IS NULL OR m.tags && %(tags_any)s::text[])
  AND (%(tags_all)s::text[] IS NULL OR m.tags @> %(tags_all)s::text[])
  AND (%(min_importance)s::float8 IS NULL OR m.importance >= %(min_importance)s::float8)
  AND (%(since)s::timestamptz IS NULL OR m.created_at >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR m.created_at < %(until)s::timestamptz)
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
