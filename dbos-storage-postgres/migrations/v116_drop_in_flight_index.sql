-- Migration 116 (online): drop the in-flight index replaced by migration 115.
DROP INDEX CONCURRENTLY IF EXISTS {schema}.idx_workflow_status_in_flight;
