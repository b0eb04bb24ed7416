-- Migration 35 (online): drop the dequeue index of migration 3.
DROP INDEX CONCURRENTLY IF EXISTS {schema}.idx_workflow_status_queue_status_started;
