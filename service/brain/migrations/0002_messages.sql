-- Messages between agents: PostgreSQL holds the history and a delivery row per recipient; the
-- deliveries not yet appended to a Redis stream are the transactional outbox.

CREATE TABLE messages (
    workspace  text        NOT NULL,
    id         uuid        NOT NULL,
    seq        bigint      GENERATED ALWAYS AS IDENTITY,
    from_agent text        NOT NULL,
    to_agent   text,       -- NULL: a broadcast
    context    jsonb       NOT NULL,
    priority   smallint    NOT NULL CHECK (priority BETWEEN 0 AND 3),  -- low, normal, high, urgent
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    PRIMARY KEY (workspace, id)
);
CREATE UNIQUE INDEX messages_seq ON messages (seq);
CREATE INDEX messages_between ON messages (workspace, from_agent, to_agent, seq DESC);
CREATE INDEX messages_age ON messages (workspace, created_at);

CREATE TABLE message_deliveries (
    workspace  text        NOT NULL,
    message_id uuid        NOT NULL,
    agent_id   text        NOT NULL,
    seq        bigint      NOT NULL,  -- the message's, for ordering without a join
    enqueued   boolean     NOT NULL DEFAULT false,  -- appended to the agent's stream
    requeued   boolean     NOT NULL DEFAULT false,  -- appended again after Redis lost data
    acked_at   timestamptz,
    PRIMARY KEY (workspace, agent_id, message_id),
    FOREIGN KEY (workspace, message_id) REFERENCES messages (workspace, id) ON DELETE CASCADE
);
-- The outbox: what the relay must still append.
CREATE INDEX message_deliveries_outbox ON message_deliveries (seq) WHERE NOT enqueued;
CREATE INDEX message_deliveries_replay ON message_deliveries (workspace, agent_id, seq);
CREATE INDEX message_deliveries_unacked ON message_deliveries (workspace, seq) WHERE acked_at IS NULL;
CREATE INDEX message_deliveries_message ON message_deliveries (workspace, message_id);

CREATE FUNCTION message_json(m messages) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT row_to_json(r)::text
    FROM (SELECT m.id, m.from_agent, m.to_agent, m.context,
                 (ARRAY['low', 'normal', 'high', 'urgent'])[m.priority + 1] AS priority,
                 m.created_at, m.expires_at) r
$$;
