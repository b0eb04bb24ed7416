-- Migration 110: the retention order of step records.
ALTER TABLE {schema}.operation_outputs ADD COLUMN IF NOT EXISTS retention_timestamp BIGINT NOT NULL
    DEFAULT (EXTRACT(epoch FROM now()) * 1000.0)::bigint;
