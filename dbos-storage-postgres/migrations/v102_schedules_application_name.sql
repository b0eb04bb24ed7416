-- Migration 102: the application owning each row (NULL: unclaimed, any application may
-- use it).
ALTER TABLE {schema}.workflow_schedules ADD COLUMN IF NOT EXISTS application_name TEXT DEFAULT NULL;
