-- Migration 11: the serialization label of every stored value.
ALTER TABLE {schema}.workflow_status ADD COLUMN serialization TEXT DEFAULT NULL;
ALTER TABLE {schema}.notifications ADD COLUMN serialization TEXT DEFAULT NULL;
ALTER TABLE {schema}.workflow_events ADD COLUMN serialization TEXT DEFAULT NULL;
ALTER TABLE {schema}.workflow_events_history ADD COLUMN serialization TEXT DEFAULT NULL;
ALTER TABLE {schema}.operation_outputs ADD COLUMN serialization TEXT DEFAULT NULL;
ALTER TABLE {schema}.streams ADD COLUMN serialization TEXT DEFAULT NULL;
