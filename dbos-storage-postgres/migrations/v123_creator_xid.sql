-- Migration 123: the token of the call that created a workflow row.
ALTER TABLE {schema}.workflow_status ADD COLUMN IF NOT EXISTS creator_xid TEXT DEFAULT NULL;
