-- The audit log (migration 0004): who did what to a workspace, newest first.

-- name: record
INSERT INTO audit (workspace, action, key_id, request_id, target, detail)
VALUES (%(workspace)s, %(action)s, %(key_id)s::uuid, %(request_id)s, %(target)s, %(detail)s::jsonb)

-- name: page
SELECT id, audit_json(a) AS body
FROM audit a
WHERE a.workspace = %(workspace)s AND (%(before)s::bigint IS NULL OR a.id < %(before)s::bigint)
ORDER BY a.id DESC
LIMIT %(limit)s

-- name: delete_all
DELETE FROM audit WHERE workspace = %(workspace)s
