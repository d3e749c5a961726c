-- Audit retention: entries may be deleted only by a recorded prune (an
-- archive then delete of the entries older than a time, up to an id), and
-- the prunes themselves are kept. Updates stay refused.

CREATE TABLE audit_prunes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL DEFAULT '',
    before     INTEGER NOT NULL,
    through_id INTEGER NOT NULL
);

CREATE TRIGGER audit_prunes_no_update BEFORE UPDATE ON audit_prunes
BEGIN
    SELECT RAISE(ABORT, 'audit_prunes is append-only');
END;
CREATE TRIGGER audit_prunes_no_delete BEFORE DELETE ON audit_prunes
BEGIN
    SELECT RAISE(ABORT, 'audit_prunes is append-only');
END;

DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_prunes p WHERE old.id <= p.through_id AND old.at < p.before)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: entries are removed only by a recorded prune (fledge audit prune)');
END;

CREATE INDEX audit_log_at ON audit_log (at, id);
