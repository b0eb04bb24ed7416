-- Migration 4: the workflow a fork was made from.
ALTER TABLE {schema}.workflow_status ADD COLUMN forked_from TEXT;
CREATE INDEX idx_workflow_status_forked_from ON {schema}.workflow_status (forked_from);
