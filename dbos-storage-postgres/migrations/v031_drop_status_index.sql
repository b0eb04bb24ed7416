-- Migration 31 (online): drop the full status index, superseded by partial ones.
DROP INDEX CONCURRENTLY IF EXISTS {schema}.workflow_status_status_index;
