-- Migration 120 (online): drop the step completion index replaced by migration 119.
DROP INDEX CONCURRENTLY IF EXISTS {schema}.idx_operation_outputs_completed_at_function_name;
