-- The notification outbox: a row is written in the same transaction as the
-- event that raises it (store.Event.Notify), so a notification is never
-- lost; the sender claims due rows under a lease (FOR UPDATE SKIP LOCKED),
-- delivers, and records each attempt in notification_attempts.
CREATE TABLE notification_outbox (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deployment_id   bigint      NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    event_seq       bigint      NOT NULL,
    event           text        NOT NULL,
    created_at      timestamptz NOT NULL,
    done            boolean     NOT NULL DEFAULT false,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    lease_owner     text        NOT NULL DEFAULT '',
    lease_expires   timestamptz,
    UNIQUE (deployment_id, event_seq)
);
CREATE INDEX notification_outbox_due ON notification_outbox (done, next_attempt_at);

CREATE TABLE notification_attempts (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id bigint      NOT NULL REFERENCES notification_outbox (id) ON DELETE CASCADE,
    receiver        text        NOT NULL,
    sink            text        NOT NULL,
    attempt         integer     NOT NULL,
    at              timestamptz NOT NULL,
    result          text        NOT NULL,
    detail          text        NOT NULL DEFAULT ''
);
CREATE INDEX notification_attempts_notification ON notification_attempts (notification_id, id);
