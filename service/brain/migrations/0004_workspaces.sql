-- Workspaces, API keys and the audit log (G7), with row-level security under every query.
--
-- The service works as the role `brain_service`: it owns nothing, has no BYPASSRLS, and each of
-- its connections runs `SET ROLE brain_service` (kit.db), whatever user its URL names. Each
-- request's workspace is the setting `brain.workspace` of its connection, set before the request
-- runs a statement; the policies below show a connection the rows of that workspace only, and no
-- row at all when it is unset. The value '*' (never a workspace id: ids are [A-Za-z0-9_.-])
-- reaches across workspaces, for the few tables the service's own work needs to read whole: the
-- workspace registry, and the outbox that the relay drains (messages, their deliveries).

CREATE TABLE workspaces (
    id         text        PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- Upgrading: what a single-workspace Brain holds stays in `default`.
INSERT INTO workspaces (id, name) VALUES ('default', 'default');
INSERT INTO workspaces (id, name)
SELECT w, w FROM (
    SELECT workspace FROM agents UNION SELECT workspace FROM memories
    UNION SELECT workspace FROM messages UNION SELECT workspace FROM idempotency_keys
) AS t(w)
WHERE w ~ '^[A-Za-z0-9_.-]{1,64}$'
ON CONFLICT (id) DO NOTHING;

CREATE TABLE api_keys (
    workspace       text             NOT NULL,
    id              uuid             NOT NULL,
    name            text             NOT NULL,
    digest          bytea            NOT NULL UNIQUE,  -- sha256 of the secret; never the secret
    prefix          text             NOT NULL,         -- the secret's first characters, to tell keys apart
    scopes          text[]           NOT NULL,
    agent_id        text             CHECK (agent_id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    rate_per_second double precision CHECK (rate_per_second > 0),
    rate_burst      integer          CHECK (rate_burst > 0),
    created_at      timestamptz      NOT NULL DEFAULT now(),
    expires_at      timestamptz      CHECK (expires_at < '10000-01-01 00:00:00+00'),
    revoked_at      timestamptz,
    last_used_at    timestamptz,
    PRIMARY KEY (workspace, id),
    CHECK ((rate_per_second IS NULL) = (rate_burst IS NULL))
);
CREATE INDEX api_keys_listed ON api_keys (workspace, created_at, id) WHERE revoked_at IS NULL;

CREATE TABLE audit (
    workspace  text        NOT NULL,
    id         bigint      GENERATED ALWAYS AS IDENTITY,
    at         timestamptz NOT NULL DEFAULT now(),
    action     text        NOT NULL,
    key_id     uuid,       -- NULL: the admin token
    request_id text,
    target     text,
    detail     jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (workspace, id)
);

CREATE FUNCTION api_key_json(k api_keys) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT row_to_json(r)::text
    FROM (SELECT k.id, k.name, k.scopes, k.agent_id, k.prefix, k.created_at, k.expires_at,
                 CASE WHEN k.rate_per_second IS NULL THEN NULL
                      ELSE json_build_object('per_second', k.rate_per_second,
                                             'burst', k.rate_burst) END AS rate_limit,
                 k.last_used_at) r
$$;

CREATE FUNCTION audit_json(a audit) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT row_to_json(r)::text
    FROM (SELECT a.id, a.at, a.action, a.key_id, a.request_id, a.target, a.detail) r
$$;

-- Row-level security: ENABLE and FORCE (the owner is held to it too), on every table.
ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE workspaces FORCE ROW LEVEL SECURITY;
CREATE POLICY own ON workspaces USING (id = current_setting('brain.workspace', true));
CREATE POLICY registry ON workspaces USING (current_setting('brain.workspace', true) = '*');

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['agents', 'memories', 'idempotency_keys', 'messages',
                             'message_deliveries', 'api_keys', 'audit'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY own ON %I USING (workspace = current_setting(''brain.workspace'', true))',
            t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['messages', 'message_deliveries'] LOOP
        EXECUTE format(
            'CREATE POLICY relay ON %I USING (current_setting(''brain.workspace'', true) = ''*'')',
            t);
    END LOOP;
END
$$;

-- Under row-level security, PostgreSQL evaluates a query's own conditions after the policy's,
-- unless their functions are LEAKPROOF; an index scan evaluates them first, so the GIN indexes
-- of tag filters (&&, @>) and full-text search (@@) would go unused and those queries would
-- scan a whole workspace (measured at 100k rows: 0.7 ms became 54 ms). These three built-ins
-- reveal nothing of their arguments but through their result. Declaring that needs a superuser:
-- where the migrating role is none, run these three statements as one (the Helm chart does, at
-- bootstrap), and `brain serve` warns until then.
DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ALTER FUNCTION arrayoverlap(anyarray, anyarray) LEAKPROOF;
        ALTER FUNCTION arraycontains(anyarray, anyarray) LEAKPROOF;
        ALTER FUNCTION ts_match_vq(tsvector, tsquery) LEAKPROOF;
    END IF;
END
$$;

-- The service's role. Creating it needs CREATEROLE; where the migrating role lacks it, an
-- operator creates `brain_service` first (the Helm chart: a CloudNativePG managed role).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'brain_service') THEN
        CREATE ROLE brain_service LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
    IF NOT pg_has_role(current_user, 'brain_service', 'MEMBER') THEN
        BEGIN
            EXECUTE format('GRANT brain_service TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'could not grant brain_service to %: connect the service as brain_service',
                current_user;
        END;
    END IF;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO brain_service', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO brain_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO brain_service;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO brain_service;
REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM brain_service;
-- Tables and sequences of later migrations (run by the same owner) get the same grants.
ALTER DEFAULT PRIVILEGES GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO brain_service;
ALTER DEFAULT PRIVILEGES GRANT USAGE, SELECT ON SEQUENCES TO brain_service;
