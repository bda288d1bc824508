-- Agents, memories and idempotency keys. Every table carries `workspace` (one, 'default', for now).

CREATE TABLE agents (
    workspace     text        NOT NULL,
    id            text        NOT NULL CHECK (id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    name          text,
    role          text,
    capabilities  text[]      NOT NULL DEFAULT '{}',
    metadata      jsonb       NOT NULL DEFAULT '{}',
    registered_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace, id)
);

CREATE TABLE memories (
    workspace  text             NOT NULL,
    id         uuid             NOT NULL,
    agent_id   text             NOT NULL CHECK (agent_id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    context    jsonb            NOT NULL,
    tags       text[]           NOT NULL DEFAULT '{}',
    importance double precision NOT NULL DEFAULT 0.5 CHECK (importance >= 0 AND importance <= 1),
    created_at timestamptz      NOT NULL DEFAULT now(),
    expires_at timestamptz,
    -- Full-text search over the string and numeric values of the context (keys left out).
    search     tsvector GENERATED ALWAYS AS
                   (jsonb_to_tsvector('english'::regconfig, context, '["string", "numeric"]')) STORED,
    PRIMARY KEY (workspace, id)
);

-- One index per query shape: (agent?) x (order recent | importance), keyset-paginated.
CREATE INDEX memories_recent ON memories (workspace, created_at DESC, id DESC);
CREATE INDEX memories_importance ON memories (workspace, importance DESC, created_at DESC, id DESC);
CREATE INDEX memories_agent_recent ON memories (workspace, agent_id, created_at DESC, id DESC);
CREATE INDEX memories_agent_importance
    ON memories (workspace, agent_id, importance DESC, created_at DESC, id DESC);
CREATE INDEX memories_tags ON memories USING gin (tags);
CREATE INDEX memories_search ON memories USING gin (search);
CREATE INDEX memories_expiry ON memories (workspace, expires_at) WHERE expires_at IS NOT NULL;

-- G5: a write retried with the same Idempotency-Key returns its first answer.
CREATE TABLE idempotency_keys (
    workspace    text        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    status       smallint,
    response     bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

-- The API's JSON for a row, built where the row is (no decode/encode round trip in Python).
-- Timestamps come out in the session's TimeZone, which the service sets to UTC.
CREATE FUNCTION memory_json(m memories) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT row_to_json(r)::text
    FROM (SELECT m.id, m.agent_id, m.context, m.tags, m.importance, m.created_at, m.expires_at) r
$$;

CREATE FUNCTION agent_json(a agents) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT row_to_json(r)::text
    FROM (SELECT a.id, a.name, a.role, a.capabilities, a.metadata, a.registered_at,
                 a.last_seen_at) r
$$;
