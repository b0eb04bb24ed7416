-- Migration 10, CockroachDB variant: no DO block. The runner first asks the probe below
-- (v010_notifications_primary_key_probe.sql) whether notifications already has its primary key
-- on message_uuid, and runs this only when it has not. A CockroachDB table always has a primary
-- key (a hidden rowid when none was declared), so the key is moved, not added.
ALTER TABLE {schema}.notifications ALTER PRIMARY KEY USING COLUMNS (message_uuid);
