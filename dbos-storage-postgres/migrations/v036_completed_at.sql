-- Migration 36: when a workflow finished. (The new column is NULL everywhere, so the index is
-- empty and needs no online build.)
ALTER TABLE {schema}.workflow_status ADD COLUMN IF NOT EXISTS completed_at BIGINT;
CREATE INDEX IF NOT EXISTS idx_workflow_status_completed_at
    ON {schema}.workflow_status (completed_at) WHERE completed_at IS NOT NULL;
