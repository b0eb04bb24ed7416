-- Migration 47 (online): drop the index superseded by migration 46.
DROP INDEX CONCURRENTLY IF EXISTS {schema}.idx_workflow_status_partition_dequeue;
