-- Fledge store schema for PostgreSQL.

CREATE TABLE resources (
    kind       text        NOT NULL,
    name       text        NOT NULL,
    spec       bytea,
    generation bigint      NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (kind, name)
);

-- pipeline_counters hands out deployment Numbers; its row lock serializes
-- concurrent creations in one pipeline.
CREATE TABLE pipeline_counters (
    pipeline    text   PRIMARY KEY,
    last_number bigint NOT NULL
);

CREATE TABLE deployments (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline         text        NOT NULL,
    number           bigint      NOT NULL,
    kind             text        NOT NULL DEFAULT '',
    rollback_to      bigint      NOT NULL DEFAULT 0,
    parameters       jsonb       NOT NULL DEFAULT '{}',
    triggered_by     text        NOT NULL DEFAULT '',
    plan             bytea,
    state            bytea,
    status           text        NOT NULL DEFAULT '',
    -- finished mirrors store.Final(status), so queries need not know the
    -- list of final statuses.
    finished         boolean     NOT NULL DEFAULT false,
    version          bigint      NOT NULL,
    cancel_requested boolean     NOT NULL DEFAULT false,
    wake_at          timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    started_at       timestamptz,
    ended_at         timestamptz,
    production_at    timestamptz,
    lease_owner      text        NOT NULL DEFAULT '',
    lease_expires    timestamptz,
    -- last_seq is the Seq of the deployment's newest event; bumping it
    -- locks the row, which serializes appenders.
    last_seq         bigint      NOT NULL DEFAULT 0,
    UNIQUE (pipeline, number)
);

CREATE INDEX deployments_unfinished ON deployments (pipeline, id) WHERE NOT finished;
CREATE INDEX deployments_status ON deployments (status, id);
CREATE INDEX deployments_production ON deployments (pipeline, production_at)
    WHERE production_at IS NOT NULL;

CREATE TABLE events (
    deployment_id bigint      NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    seq           bigint      NOT NULL,
    time          timestamptz NOT NULL,
    stage         text        NOT NULL DEFAULT '',
    type          text        NOT NULL DEFAULT '',
    message       text        NOT NULL DEFAULT '',
    PRIMARY KEY (deployment_id, seq)
);

CREATE TABLE decisions (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deployment_id bigint      NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    stage         text        NOT NULL,
    user_name     text        NOT NULL,
    decision      text        NOT NULL,
    reason        text        NOT NULL DEFAULT '',
    at            timestamptz NOT NULL,
    UNIQUE (deployment_id, stage, user_name)
);
