-- API keys as authentication sees them (kit.auth), in the workspace the secret names.

-- name: key
SELECT id, scopes, agent_id, rate_per_second, rate_burst,
       extract(epoch FROM expires_at)::float8 AS expires,
       revoked_at IS NOT NULL AS revoked,
       last_used_at IS NULL OR last_used_at < now() - interval '60 seconds' AS stale_use
FROM api_keys
WHERE workspace = %(workspace)s AND digest = %(digest)s

-- name: touch
UPDATE api_keys SET last_used_at = now()
WHERE workspace = %(workspace)s AND id = %(id)s::uuid
