-- Migration 42: debounced workflows.
ALTER TABLE {schema}.workflow_status ADD COLUMN IF NOT EXISTS debounce_deadline_epoch_ms BIGINT DEFAULT NULL;
ALTER TABLE {schema}.workflow_status ADD COLUMN IF NOT EXISTS is_debounced BOOLEAN NOT NULL DEFAULT FALSE;
