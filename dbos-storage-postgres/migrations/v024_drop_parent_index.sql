-- Migration 24 (online): drop the full parent_workflow_id index, to rebuild it partial.
DROP INDEX CONCURRENTLY IF EXISTS {schema}.idx_workflow_status_parent_workflow_id;
