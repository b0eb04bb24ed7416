-- Migration 17: the queue a schedule enqueues on.
ALTER TABLE {schema}.workflow_schedules ADD COLUMN queue_name TEXT DEFAULT NULL;
