-- Migration 40: free-form workflow attributes, searchable by containment.
ALTER TABLE {schema}.workflow_status ADD COLUMN IF NOT EXISTS attributes JSONB;
CREATE INDEX IF NOT EXISTS idx_workflow_status_attributes
    ON {schema}.workflow_status USING GIN (attributes) WHERE attributes IS NOT NULL;
