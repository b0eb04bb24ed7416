-- Migration 100: the application owning each row (NULL: unclaimed, any application may
-- use it).
ALTER TABLE {schema}.workflow_status ADD COLUMN IF NOT EXISTS application_name TEXT DEFAULT NULL;
