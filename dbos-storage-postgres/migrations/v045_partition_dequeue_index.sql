-- Migration 45 (online): dequeue order within one partition.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_workflow_status_partition_dequeue
    ON {schema}.workflow_status (queue_name, status, queue_partition_key, priority, created_at)
    WHERE status IN ('ENQUEUED', 'PENDING') AND queue_partition_key IS NOT NULL;
