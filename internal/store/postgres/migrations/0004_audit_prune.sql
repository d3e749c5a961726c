-- Audit retention: entries may be deleted only by a recorded prune (an
-- archive then delete of the entries older than a time, up to an id), and
-- the prunes themselves are kept. Updates and TRUNCATE stay refused.

CREATE TABLE audit_prunes (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text        NOT NULL DEFAULT '',
    before     timestamptz NOT NULL,
    through_id bigint      NOT NULL
);

CREATE FUNCTION audit_prunes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_prunes is append-only';
END;
$$;
CREATE TRIGGER audit_prunes_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_prunes
    FOR EACH STATEMENT EXECUTE FUNCTION audit_prunes_append_only();

DROP TRIGGER audit_log_no_change ON audit_log;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE FUNCTION audit_log_pruned_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit_prunes p WHERE OLD.id <= p.through_id AND OLD.at < p.before) THEN
        RAISE EXCEPTION 'audit_log is append-only: entries are removed only by a recorded prune (fledge audit prune)';
    END IF;
    RETURN OLD;
END;
$$;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_pruned_only();

CREATE INDEX audit_log_at ON audit_log (at, id);
