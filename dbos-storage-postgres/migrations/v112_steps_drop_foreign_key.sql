-- Migration 112: step records no longer reference workflow_status (the retention sweep deletes
-- them in batches). The TypeScript SDK named the constraint differently, so both names go.
ALTER TABLE {schema}.operation_outputs DROP CONSTRAINT IF EXISTS operation_outputs_workflow_uuid_foreign;
ALTER TABLE {schema}.operation_outputs DROP CONSTRAINT IF EXISTS operation_outputs_workflow_uuid_fkey;
