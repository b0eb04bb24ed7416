-- Migration 22 (online): drop the full forked_from index, to rebuild it partial.
DROP INDEX CONCURRENTLY IF EXISTS {schema}.idx_workflow_status_forked_from;
