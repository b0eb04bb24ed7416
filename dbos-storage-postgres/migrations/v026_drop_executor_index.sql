-- Migration 26 (online): drop the unused executor_id index.
DROP INDEX CONCURRENTLY IF EXISTS {schema}.workflow_status_executor_id_index;
