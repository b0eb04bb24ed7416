-- Migration 104: the application owning each row (NULL: unclaimed, any application may
-- use it).
ALTER TABLE {schema}.operation_outputs ADD COLUMN IF NOT EXISTS application_name TEXT DEFAULT NULL;
