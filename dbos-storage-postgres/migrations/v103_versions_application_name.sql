-- Migration 103: the application owning each row (NULL: unclaimed, any application may
-- use it).
ALTER TABLE {schema}.application_versions ADD COLUMN IF NOT EXISTS application_name TEXT DEFAULT NULL;
