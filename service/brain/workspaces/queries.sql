-- API keys of a workspace. Every statement runs in that workspace (kit.db.enter).

-- name: insert_key
INSERT INTO api_keys (workspace, id, name, digest, prefix, scopes, agent_id, rate_per_second,
                      rate_burst, expires_at)
SELECT %(workspace)s, gen_random_uuid(), %(name)s, %(digest)s, %(prefix)s, %(scopes)s::text[],
       %(agent_id)s, %(per_second)s::float8, %(burst)s::int, %(expires_at)s::timestamptz
WHERE (SELECT count(*) FROM api_keys WHERE workspace = %(workspace)s AND revoked_at IS NULL)
      < %(max)s
RETURNING id, api_key_json(api_keys) AS body

-- name: list_keys
SELECT api_key_json(k) AS body
FROM api_keys k
WHERE k.workspace = %(workspace)s AND k.revoked_at IS NULL
ORDER BY k.created_at, k.id

-- name: revoke_key
UPDATE api_keys SET revoked_at = now()
WHERE workspace = %(workspace)s AND id = %(id)s::uuid AND revoked_at IS NULL
RETURNING id

-- name: delete_keys
DELETE FROM api_keys WHERE workspace = %(workspace)s
