-- The workspace registry (migration 0004). `ids` runs across workspaces (kit.db.ALL); every other
-- statement runs in the workspace it names, which is the only row the policies show it.

-- name: ids
SELECT id FROM workspaces ORDER BY id

-- name: page
SELECT id, row_to_json(w)::text AS body
FROM (SELECT id, name, created_at FROM workspaces) w
WHERE %(after)s::text IS NULL OR id > %(after)s::text
ORDER BY id
LIMIT %(limit)s

-- name: exists
SELECT 1 AS found FROM workspaces WHERE id = %(workspace)s

-- name: create
INSERT INTO workspaces (id, name)
SELECT %(workspace)s, %(name)s
WHERE (SELECT count(*) FROM workspaces) < %(max)s
ON CONFLICT (id) DO NOTHING
RETURNING row_to_json(workspaces)::text AS body

-- name: count
SELECT count(*) AS workspaces FROM workspaces

-- name: delete
DELETE FROM workspaces WHERE id = %(workspace)s
