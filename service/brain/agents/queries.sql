-- Agents.

-- name: upsert
INSERT INTO agents AS a (workspace, id, name, role, capabilities, metadata)
VALUES (%(workspace)s, %(id)s, %(name)s, %(role)s, %(capabilities)s::text[], %(metadata)s::jsonb)
ON CONFLICT (workspace, id) DO UPDATE
SET name = EXCLUDED.name, role = EXCLUDED.role, capabilities = EXCLUDED.capabilities,
    metadata = EXCLUDED.metadata, last_seen_at = now()
RETURNING (xmax = 0) AS created, agent_json(a) AS body

-- name: get
SELECT agent_json(a) AS body FROM agents a WHERE a.workspace = %(workspace)s AND a.id = %(id)s

-- name: list
SELECT a.id, agent_json(a) AS body FROM agents a
WHERE a.workspace = %(workspace)s AND (%(after)s::text IS NULL OR a.id > %(after)s::text)
ORDER BY a.id
LIMIT %(limit)s

-- name: delete
DELETE FROM agents WHERE workspace = %(workspace)s AND id = %(id)s

-- name: count
SELECT count(*) AS agents FROM agents WHERE workspace = %(workspace)s

-- name: delete_all
DELETE FROM agents WHERE workspace = %(workspace)s
