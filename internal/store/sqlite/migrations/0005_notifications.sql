-- The notification outbox: a row is written in the same transaction as the
-- event that raises it (store.Event.Notify), so a notification is never
-- lost; the sender claims due rows under a lease, delivers, and records
-- each attempt in notification_attempts.
CREATE TABLE notification_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment_id   INTEGER NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    event_seq       INTEGER NOT NULL,
    event           TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    done            INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT    NOT NULL DEFAULT '',
    lease_expires   INTEGER,
    UNIQUE (deployment_id, event_seq)
);
CREATE INDEX notification_outbox_due ON notification_outbox (done, next_attempt_at);

CREATE TABLE notification_attempts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id INTEGER NOT NULL REFERENCES notification_outbox (id) ON DELETE CASCADE,
    receiver        TEXT    NOT NULL,
    sink            TEXT    NOT NULL,
    attempt         INTEGER NOT NULL,
    at              INTEGER NOT NULL,
    result          TEXT    NOT NULL,
    detail          TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX notification_attempts_notification ON notification_attempts (notification_id, id);
