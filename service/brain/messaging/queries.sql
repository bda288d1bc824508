-- Messages and their deliveries. A delivery row per recipient; `NOT enqueued` rows are the outbox.

-- One statement (one round trip, atomic in autocommit): checks that the sender and the recipient
-- are registered, and only then inserts the message and its deliveries. The answer says which
-- agent is unknown (the insert did not happen) or carries the message and its recipients.

-- name: publish_direct
WITH named AS (
    SELECT coalesce(bool_or(id = %(from_agent)s), false) AS from_known,
           coalesce(bool_or(id = %(to_agent)s), false) AS to_known
    FROM agents
    WHERE workspace = %(workspace)s AND id IN (%(from_agent)s, %(to_agent)s)
), message AS (
    INSERT INTO messages (workspace, id, from_agent, to_agent, context, priority, expires_at)
    SELECT %(workspace)s, gen_random_uuid(), %(from_agent)s, %(to_agent)s, %(context)s::jsonb,
           %(priority)s, now() + make_interval(secs => %(ttl_seconds)s::float8)
    FROM named WHERE from_known AND to_known
    RETURNING id, seq, expires_at, message_json(messages) AS body
), delivered AS (
    INSERT INTO message_deliveries (workspace, message_id, agent_id, seq)
    SELECT %(workspace)s, m.id, %(to_agent)s, m.seq FROM message m
    RETURNING agent_id
)
SELECT n.from_known, n.to_known, m.id, m.seq, m.expires_at, m.body,
       ARRAY(SELECT agent_id FROM delivered) AS recipients
FROM named n LEFT JOIN message m ON true

-- name: publish_broadcast
WITH named AS (
    SELECT coalesce(bool_or(id = %(from_agent)s), false) AS from_known, true AS to_known
    FROM agents
    WHERE workspace = %(workspace)s AND id = %(from_agent)s
), message AS (
    INSERT INTO messages (workspace, id, from_agent, to_agent, context, priority, expires_at)
    SELECT %(workspace)s, gen_random_uuid(), %(from_agent)s, NULL, %(context)s::jsonb,
           %(priority)s, now() + make_interval(secs => %(ttl_seconds)s::float8)
    FROM named WHERE from_known
    RETURNING id, seq, expires_at, message_json(messages) AS body
), delivered AS (
    INSERT INTO message_deliveries (workspace, message_id, agent_id, seq)
    SELECT %(workspace)s, m.id, a.id, m.seq
    FROM message m JOIN agents a ON a.workspace = %(workspace)s AND a.id <> %(from_agent)s
    RETURNING agent_id
)
SELECT n.from_known, n.to_known, m.id, m.seq, m.expires_at, m.body,
       ARRAY(SELECT agent_id FROM delivered) AS recipients
FROM named n LEFT JOIN message m ON true

-- name: outbox_batch
SELECT d.workspace, d.agent_id, d.message_id, d.acked_at, d.requeued, m.priority, m.expires_at,
       m.created_at < now() - make_interval(secs => %(retention)s::float8) AS too_old,
       message_json(m) AS body
FROM message_deliveries d
JOIN messages m ON m.workspace = d.workspace AND m.id = d.message_id
WHERE NOT d.enqueued AND m.created_at < now() - make_interval(secs => %(grace)s::float8)
ORDER BY d.seq
LIMIT %(batch)s
FOR UPDATE OF d SKIP LOCKED

-- name: mark_enqueued
-- Deliveries are locked in primary-key order first, as `ack` and `requeue_unacked` lock them:
-- statements that lock the same rows in different orders can deadlock.
UPDATE message_deliveries d SET enqueued = true
FROM (
    SELECT l.workspace, l.agent_id, l.message_id
    FROM message_deliveries l
    JOIN unnest(%(workspaces)s::text[], %(agents)s::text[], %(messages)s::uuid[]) AS t(w, a, m)
      ON l.workspace = t.w AND l.agent_id = t.a AND l.message_id = t.m
    ORDER BY l.workspace, l.agent_id, l.message_id
    FOR UPDATE OF l
) AS locked
WHERE d.workspace = locked.workspace AND d.agent_id = locked.agent_id
  AND d.message_id = locked.message_id

-- name: requeue_unacked
UPDATE message_deliveries d SET enqueued = false, requeued = true
FROM (
    SELECT l.workspace, l.agent_id, l.message_id
    FROM message_deliveries l
    JOIN messages m ON m.workspace = l.workspace AND m.id = l.message_id
    WHERE l.acked_at IS NULL AND (l.enqueued OR NOT l.requeued)
      AND m.created_at > now() - make_interval(secs => %(retention)s::float8)
      AND (m.expires_at IS NULL OR m.expires_at > now())
    ORDER BY l.workspace, l.agent_id, l.message_id
    FOR UPDATE OF l
) AS locked
WHERE d.workspace = locked.workspace AND d.agent_id = locked.agent_id
  AND d.message_id = locked.message_id

-- name: ack
-- Locks in primary-key order, like mark_enqueued (see there).
WITH asked AS (
    SELECT message_id FROM message_deliveries
    WHERE workspace = %(workspace)s AND agent_id = %(agent_id)s
      AND message_id = ANY (%(ids)s::uuid[])
), locked AS (
    SELECT message_id FROM message_deliveries
    WHERE workspace = %(workspace)s AND agent_id = %(agent_id)s
      AND message_id = ANY (%(ids)s::uuid[]) AND acked_at IS NULL
    ORDER BY message_id
    FOR UPDATE
), newly AS (
    UPDATE message_deliveries d SET acked_at = now()
    FROM locked
    WHERE d.workspace = %(workspace)s AND d.agent_id = %(agent_id)s
      AND d.message_id = locked.message_id
    RETURNING d.message_id
)
SELECT (SELECT count(*) FROM asked) AS acked, (SELECT count(*) FROM newly) AS newly

-- name: acked_among
SELECT message_id FROM message_deliveries
WHERE workspace = %(workspace)s AND agent_id = %(agent_id)s
  AND message_id = ANY (%(ids)s::uuid[]) AND acked_at IS NOT NULL

-- name: history
SELECT m.seq, message_json(m) AS body
FROM messages m
WHERE m.workspace = %(workspace)s
  AND ((m.from_agent = %(agent)s AND m.to_agent = %(peer)s)
       OR (m.from_agent = %(peer)s AND m.to_agent = %(agent)s))
  AND (%(before)s::timestamptz IS NULL OR m.created_at < %(before)s::timestamptz)
  AND (%(after_seq)s::bigint IS NULL OR m.seq < %(after_seq)s::bigint)
ORDER BY m.seq DESC
LIMIT %(limit)s

-- name: replay
SELECT d.seq, d.acked_at, message_json(m) AS body
FROM message_deliveries d
JOIN messages m ON m.workspace = d.workspace AND m.id = d.message_id
WHERE d.workspace = %(workspace)s AND d.agent_id = %(agent_id)s
  AND m.created_at >= %(since)s::timestamptz
  AND (%(after_seq)s::bigint IS NULL OR d.seq > %(after_seq)s::bigint)
ORDER BY d.seq
LIMIT %(limit)s

-- name: counts
SELECT
    (SELECT count(*) FROM messages WHERE workspace = %(workspace)s) AS total,
    (SELECT count(*) FROM message_deliveries d JOIN messages m
         ON m.workspace = d.workspace AND m.id = d.message_id
     WHERE d.workspace = %(workspace)s AND d.acked_at IS NULL
       AND (m.expires_at IS NULL OR m.expires_at > now())) AS unacknowledged,
    (SELECT count(*) FROM message_deliveries
     WHERE workspace = %(workspace)s AND NOT enqueued) AS outbox_backlog

-- name: unacknowledged_by_agent
SELECT d.agent_id, count(*) AS unacknowledged
FROM message_deliveries d JOIN messages m ON m.workspace = d.workspace AND m.id = d.message_id
WHERE d.workspace = %(workspace)s AND d.acked_at IS NULL
  AND (m.expires_at IS NULL OR m.expires_at > now())
GROUP BY d.agent_id
ORDER BY unacknowledged DESC, d.agent_id
LIMIT %(limit)s

-- name: outbox_backlog
SELECT count(*) AS backlog FROM message_deliveries WHERE NOT enqueued

-- name: prune
WITH doomed AS (
    SELECT id FROM messages
    WHERE workspace = %(workspace)s
      AND created_at < now() - make_interval(secs => %(keep)s::float8)
    LIMIT %(batch)s
)
DELETE FROM messages m USING doomed WHERE m.workspace = %(workspace)s AND m.id = doomed.id

-- name: registered_agents
SELECT id FROM agents WHERE workspace = %(workspace)s

-- name: stream_agents
-- Agents that may have delivery streams: registered ones, and any with deliveries (an agent
-- unregistered since keeps its streams until they are trimmed or cleared).
SELECT id FROM agents WHERE workspace = %(workspace)s
UNION
SELECT DISTINCT agent_id FROM message_deliveries WHERE workspace = %(workspace)s

-- name: delete_all
DELETE FROM messages WHERE workspace = %(workspace)s

-- name: export_page
-- An agent's messages (sent, or addressed to it directly or by broadcast), oldest first, with
-- its delivery's acknowledgement for those it received.
SELECT m.seq, d.acked_at, message_json(m) AS body
FROM messages m
LEFT JOIN message_deliveries d
       ON d.workspace = m.workspace AND d.message_id = m.id AND d.agent_id = %(agent_id)s
WHERE m.workspace = %(workspace)s AND (m.from_agent = %(agent_id)s OR d.agent_id IS NOT NULL)
  AND (%(after_seq)s::bigint IS NULL OR m.seq > %(after_seq)s::bigint)
ORDER BY m.seq
LIMIT %(limit)s

-- name: purge_deliveries_of_sent
-- Before a purge: the unacknowledged deliveries of the agent's messages to others (their entries
-- are taken out of the recipients' streams once the purge commits).
SELECT d.agent_id, array_agg(d.message_id::text) AS ids
FROM message_deliveries d
JOIN messages m ON m.workspace = d.workspace AND m.id = d.message_id
WHERE d.workspace = %(workspace)s AND m.from_agent = %(agent_id)s AND d.agent_id <> %(agent_id)s
  AND d.acked_at IS NULL
GROUP BY d.agent_id

-- name: purge
WITH sent AS (
    DELETE FROM messages
    WHERE workspace = %(workspace)s AND (from_agent = %(agent_id)s OR to_agent = %(agent_id)s)
    RETURNING 1
), received AS (
    DELETE FROM message_deliveries
    WHERE workspace = %(workspace)s AND agent_id = %(agent_id)s
    RETURNING 1
)
SELECT (SELECT count(*) FROM sent) AS messages, (SELECT count(*) FROM received) AS deliveries
