-- Migration 5: when each step started and completed.
ALTER TABLE {schema}.operation_outputs
    ADD COLUMN started_at_epoch_ms BIGINT,
    ADD COLUMN completed_at_epoch_ms BIGINT;
