-- Migration 18: whether a workflow has been forked.
ALTER TABLE {schema}.workflow_status ADD COLUMN was_forked_from BOOLEAN NOT NULL DEFAULT FALSE;
