-- Migration 29 (online): pending workflows by age.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_workflow_status_pending
    ON {schema}.workflow_status (created_at) WHERE status = 'PENDING';
