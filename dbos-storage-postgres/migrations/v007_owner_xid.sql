-- Migration 7: the ownership token of the execution running a workflow.
ALTER TABLE {schema}.workflow_status ADD COLUMN owner_xid TEXT DEFAULT NULL;
