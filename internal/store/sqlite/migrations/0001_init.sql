-- Fledge store schema for SQLite. Times are INTEGER microseconds since the
-- Unix epoch (UTC); byte fields are BLOBs, NULL when empty.

CREATE TABLE resources (
    kind       TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    spec       BLOB,
    generation INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
);

CREATE TABLE deployments (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline         TEXT    NOT NULL,
    number           INTEGER NOT NULL,
    kind             TEXT    NOT NULL DEFAULT '',
    rollback_to      INTEGER NOT NULL DEFAULT 0,
    parameters       TEXT    NOT NULL DEFAULT '{}',
    triggered_by     TEXT    NOT NULL DEFAULT '',
    plan             BLOB,
    state            BLOB,
    status           TEXT    NOT NULL DEFAULT '',
    -- finished mirrors store.Final(status), so queries need not know the
    -- list of final statuses.
    finished         INTEGER NOT NULL DEFAULT 0,
    version          INTEGER NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    wake_at          INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    started_at       INTEGER,
    ended_at         INTEGER,
    production_at    INTEGER,
    lease_owner      TEXT    NOT NULL DEFAULT '',
    lease_expires    INTEGER,
    -- last_seq is the Seq of the deployment's newest event.
    last_seq         INTEGER NOT NULL DEFAULT 0,
    UNIQUE (pipeline, number)
);

CREATE INDEX deployments_unfinished ON deployments (pipeline, id) WHERE finished = 0;
CREATE INDEX deployments_status ON deployments (status, id);
CREATE INDEX deployments_production ON deployments (pipeline, production_at)
    WHERE production_at IS NOT NULL;

CREATE TABLE events (
    deployment_id INTEGER NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    time          INTEGER NOT NULL,
    stage         TEXT    NOT NULL DEFAULT '',
    type          TEXT    NOT NULL DEFAULT '',
    message       TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (deployment_id, seq)
);

CREATE TABLE decisions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment_id INTEGER NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    stage         TEXT    NOT NULL,
    user_name     TEXT    NOT NULL,
    decision      TEXT    NOT NULL,
    reason        TEXT    NOT NULL DEFAULT '',
    at            INTEGER NOT NULL,
    UNIQUE (deployment_id, stage, user_name)
);
