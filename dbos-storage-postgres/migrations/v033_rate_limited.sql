-- Migration 33: whether a started workflow counts against its queue's rate limit.
ALTER TABLE {schema}.workflow_status ADD COLUMN IF NOT EXISTS rate_limited BOOLEAN NOT NULL DEFAULT FALSE;
