-- Idempotency keys (G5): claimed in the transaction that performs the write.

-- name: claim
INSERT INTO idempotency_keys (workspace, key, request_hash)
VALUES (%(workspace)s, %(key)s, %(request_hash)s)
ON CONFLICT (workspace, key) DO NOTHING
RETURNING 1 AS claimed

-- name: record
UPDATE idempotency_keys SET status = %(status)s, response = %(response)s
WHERE workspace = %(workspace)s AND key = %(key)s

-- name: previous
SELECT request_hash, status, response FROM idempotency_keys
WHERE workspace = %(workspace)s AND key = %(key)s

-- name: forget_older_than
DELETE FROM idempotency_keys
WHERE workspace = %(workspace)s AND created_at < now() - make_interval(secs => %(seconds)s::float8)

-- name: forget_all
DELETE FROM idempotency_keys WHERE workspace = %(workspace)s
