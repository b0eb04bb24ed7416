-- Migration 1, CockroachDB variant: the initial system schema, with the deduplication key created
-- as a unique index. Otherwise identical to the PostgreSQL driver's v001_initial_schema.sql.
-- Migration 1: the initial system schema. (DBOS also creates the uuid-ossp extension here; it is
-- not needed, gen_random_uuid() is built into PostgreSQL 13 and later.)

CREATE TABLE {schema}.workflow_status (
    workflow_uuid TEXT PRIMARY KEY,
    status TEXT,
    name TEXT,
    authenticated_user TEXT,
    assumed_role TEXT,
    authenticated_roles TEXT,
    request TEXT,
    output TEXT,
    error TEXT,
    executor_id TEXT,
    created_at BIGINT NOT NULL DEFAULT (EXTRACT(epoch FROM now()) * 1000.0)::bigint,
    updated_at BIGINT NOT NULL DEFAULT (EXTRACT(epoch FROM now()) * 1000.0)::bigint,
    application_version TEXT,
    application_id TEXT,
    class_name VARCHAR(255) DEFAULT NULL,
    config_name VARCHAR(255) DEFAULT NULL,
    recovery_attempts BIGINT DEFAULT 0,
    queue_name TEXT,
    workflow_timeout_ms BIGINT,
    workflow_deadline_epoch_ms BIGINT,
    inputs TEXT,
    started_at_epoch_ms BIGINT,
    deduplication_id TEXT,
    priority INT4 NOT NULL DEFAULT 0
);

CREATE INDEX workflow_status_created_at_index ON {schema}.workflow_status (created_at);
CREATE INDEX workflow_status_executor_id_index ON {schema}.workflow_status (executor_id);
CREATE INDEX workflow_status_status_index ON {schema}.workflow_status (status);

-- CockroachDB: a UNIQUE constraint is a unique index there, and migration 28 drops it with
-- DROP INDEX … CASCADE; creating it as an index makes that drop work on every server.
CREATE UNIQUE INDEX uq_workflow_status_queue_name_dedup_id
    ON {schema}.workflow_status (queue_name, deduplication_id);

CREATE TABLE {schema}.operation_outputs (
    workflow_uuid TEXT NOT NULL,
    function_id INT4 NOT NULL,
    function_name TEXT NOT NULL DEFAULT '',
    output TEXT,
    error TEXT,
    child_workflow_id TEXT,
    PRIMARY KEY (workflow_uuid, function_id),
    FOREIGN KEY (workflow_uuid) REFERENCES {schema}.workflow_status (workflow_uuid)
        ON UPDATE CASCADE ON DELETE CASCADE
);

CREATE TABLE {schema}.notifications (
    message_uuid TEXT NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    destination_uuid TEXT NOT NULL,
    topic TEXT,
    message TEXT NOT NULL,
    created_at_epoch_ms BIGINT NOT NULL DEFAULT (EXTRACT(epoch FROM now()) * 1000.0)::bigint,
    FOREIGN KEY (destination_uuid) REFERENCES {schema}.workflow_status (workflow_uuid)
        ON UPDATE CASCADE ON DELETE CASCADE
);

CREATE INDEX idx_workflow_topic ON {schema}.notifications (destination_uuid, topic);

CREATE TABLE {schema}.workflow_events (
    workflow_uuid TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (workflow_uuid, key),
    FOREIGN KEY (workflow_uuid) REFERENCES {schema}.workflow_status (workflow_uuid)
        ON UPDATE CASCADE ON DELETE CASCADE
);

CREATE TABLE {schema}.streams (
    workflow_uuid TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    "offset" INT4 NOT NULL,
    PRIMARY KEY (workflow_uuid, key, "offset"),
    FOREIGN KEY (workflow_uuid) REFERENCES {schema}.workflow_status (workflow_uuid)
        ON UPDATE CASCADE ON DELETE CASCADE
);

CREATE TABLE {schema}.event_dispatch_kv (
    service_name TEXT NOT NULL,
    workflow_fn_name TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    update_seq NUMERIC(38, 0),
    update_time NUMERIC(38, 15),
    PRIMARY KEY (service_name, workflow_fn_name, key)
);
