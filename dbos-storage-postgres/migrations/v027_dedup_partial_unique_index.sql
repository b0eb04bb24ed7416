-- Migration 27 (online): deduplication ids are unique per queue where set (a new name, so it does not collide with the constraint it replaces).
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS uq_workflow_status_dedup_id
    ON {schema}.workflow_status (queue_name, deduplication_id) WHERE deduplication_id IS NOT NULL;
