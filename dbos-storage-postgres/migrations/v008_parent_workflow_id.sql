-- Migration 8: the parent of a child workflow.
ALTER TABLE {schema}.workflow_status ADD COLUMN parent_workflow_id TEXT DEFAULT NULL;
CREATE INDEX idx_workflow_status_parent_workflow_id
    ON {schema}.workflow_status (parent_workflow_id);
