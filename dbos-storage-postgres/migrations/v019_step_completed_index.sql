-- Migration 19: steps by completion time and name (replaced by migrations 119-120).
CREATE INDEX idx_operation_outputs_completed_at_function_name
    ON {schema}.operation_outputs (completed_at_epoch_ms, function_name);
