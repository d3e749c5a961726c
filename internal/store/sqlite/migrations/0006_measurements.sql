-- The measurements of a deployment's analyses: a row is written in the same
-- transaction as the event (and the state) that counted it, so a crash
-- between measuring and recording repeats the measurement instead of
-- counting it twice.
CREATE TABLE measurements (
    deployment_id INTEGER NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    event_seq     INTEGER NOT NULL,
    analysis      TEXT    NOT NULL,
    template      TEXT    NOT NULL,
    metric        TEXT    NOT NULL,
    phase         TEXT    NOT NULL,
    value         TEXT    NOT NULL DEFAULT '',
    message       TEXT    NOT NULL DEFAULT '',
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER NOT NULL,
    PRIMARY KEY (deployment_id, event_seq)
);
