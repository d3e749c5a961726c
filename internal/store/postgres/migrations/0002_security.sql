-- Security records: API tokens (hashes only), the append-only audit log,
-- sealed webhook secrets, and webhook deliveries already seen (replays).

CREATE TABLE tokens (
    name       text        PRIMARY KEY,
    hash       bytea       NOT NULL UNIQUE,
    roles      jsonb       NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL,
    created_by text        NOT NULL DEFAULT '',
    expires_at timestamptz
);

CREATE TABLE audit_log (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor       text        NOT NULL DEFAULT '',
    action      text        NOT NULL,
    target      text        NOT NULL DEFAULT '',
    remote_addr text        NOT NULL DEFAULT '',
    outcome     text        NOT NULL DEFAULT '',
    detail      text        NOT NULL DEFAULT ''
);

CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

-- The audit log is append-only, whatever the code above it does.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE secrets (
    name       text        PRIMARY KEY,
    sealed     bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE webhook_deliveries (
    key         text        PRIMARY KEY,
    received_at timestamptz NOT NULL
);
