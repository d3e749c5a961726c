-- The measurements of a deployment's analyses: a row is written in the same
-- transaction as the event (and the state) that counted it, so a crash
-- between measuring and recording repeats the measurement instead of
-- counting it twice.
CREATE TABLE measurements (
    deployment_id bigint      NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    event_seq     bigint      NOT NULL,
    analysis      text        NOT NULL,
    template      text        NOT NULL,
    metric        text        NOT NULL,
    phase         text        NOT NULL,
    value         text        NOT NULL DEFAULT '',
    message       text        NOT NULL DEFAULT '',
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL,
    PRIMARY KEY (deployment_id, event_seq)
);
