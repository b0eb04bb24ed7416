-- Migration 3: an index for dequeueing (dropped again by migration 35).
CREATE INDEX idx_workflow_status_queue_status_started
    ON {schema}.workflow_status (queue_name, status, started_at_epoch_ms);
