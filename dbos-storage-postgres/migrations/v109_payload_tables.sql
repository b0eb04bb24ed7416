-- Migration 109: workflow inputs and outcomes move out of workflow_status, so that a status
-- update does not rewrite a large payload.
CREATE TABLE IF NOT EXISTS {schema}.workflow_input (
    workflow_uuid TEXT NOT NULL PRIMARY KEY,
    inputs TEXT,
    retention_timestamp BIGINT NOT NULL DEFAULT (EXTRACT(epoch FROM now()) * 1000.0)::bigint
);
CREATE TABLE IF NOT EXISTS {schema}.workflow_output (
    workflow_uuid TEXT NOT NULL PRIMARY KEY,
    output TEXT,
    error TEXT,
    retention_timestamp BIGINT NOT NULL DEFAULT (EXTRACT(epoch FROM now()) * 1000.0)::bigint
);
CREATE INDEX IF NOT EXISTS idx_workflow_input_retention
    ON {schema}.workflow_input (retention_timestamp);
CREATE INDEX IF NOT EXISTS idx_workflow_output_retention
    ON {schema}.workflow_output (retention_timestamp);
