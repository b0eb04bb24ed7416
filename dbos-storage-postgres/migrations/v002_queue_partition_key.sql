-- Migration 2: the partition key of partitioned queues.
ALTER TABLE {schema}.workflow_status ADD COLUMN queue_partition_key TEXT;
