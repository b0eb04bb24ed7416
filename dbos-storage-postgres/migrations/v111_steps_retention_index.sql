-- Migration 111 (online): step records in retention order.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_operation_outputs_retention
    ON {schema}.operation_outputs (retention_timestamp);
