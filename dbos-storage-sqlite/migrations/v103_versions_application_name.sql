-- 103: the owning application of each application version.
ALTER TABLE application_versions ADD COLUMN application_name TEXT DEFAULT NULL;
