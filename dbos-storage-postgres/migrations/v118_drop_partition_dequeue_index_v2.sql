-- Migration 118 (online): drop the partition dequeue index replaced by migration 117.
DROP INDEX CONCURRENTLY IF EXISTS {schema}.idx_workflow_status_partition_dequeue_v2;
