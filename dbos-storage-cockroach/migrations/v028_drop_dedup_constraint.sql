-- Migration 28, CockroachDB variant: the deduplication key is an index there (ALTER TABLE … DROP
-- CONSTRAINT is refused for unique constraints), so it is dropped as one.
DROP INDEX IF EXISTS {schema}.uq_workflow_status_queue_name_dedup_id CASCADE;
