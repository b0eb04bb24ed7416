-- Migration 28: drop the table-wide deduplication constraint that migration 27 replaced.
ALTER TABLE {schema}.workflow_status DROP CONSTRAINT IF EXISTS uq_workflow_status_queue_name_dedup_id;
