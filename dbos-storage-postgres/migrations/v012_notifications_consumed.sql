-- Migration 12: messages are marked consumed instead of deleted (the index duplicates
-- idx_workflow_topic and is dropped by migration 114).
ALTER TABLE {schema}.notifications ADD COLUMN consumed BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX idx_notifications ON {schema}.notifications (destination_uuid, topic);
