-- Migration 121: the step that consumed a message.
ALTER TABLE {schema}.notifications ADD COLUMN IF NOT EXISTS consumed_by_function_id INT4;
