//! Export and import statements: every row of a workflow, column for column. The
//! stream column `"offset"` is a reserved word and always quoted.

/// Every `workflow_status` column but `owner_xid`, in the order of
/// `dbos_storage_core::export::WorkflowRow` (38 columns).
macro_rules! exported_status_columns {
    () => {
        "workflow_uuid, status, name, authenticated_user, assumed_role, authenticated_roles, \
         request, output, error, executor_id, created_at, updated_at, application_version, \
         application_id, class_name, config_name, recovery_attempts, queue_name, \
         workflow_timeout_ms, workflow_deadline_epoch_ms, inputs, started_at_epoch_ms, \
         deduplication_id, priority, queue_partition_key, forked_from, parent_workflow_id, \
         serialization, delay_until_epoch_ms, was_forked_from, rate_limited, completed_at, \
         attributes, schedule_name, debounce_deadline_epoch_ms, is_debounced, application_name, \
         creator_xid"
    };
}

// ---------------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------------

// language=SQL
/// A workflow's status row without `owner_xid` (`?1` id).
pub(crate) const EXPORT_STATUS: &str = concat!(
    "SELECT ",
    exported_status_columns!(),
    " FROM workflow_status WHERE workflow_uuid = ?1"
);

// language=SQL
/// A workflow's `workflow_input` row (`?1` id).
pub(crate) const EXPORT_INPUT: &str =
    "SELECT inputs, retention_timestamp FROM workflow_input WHERE workflow_uuid = ?1";

// language=SQL
/// A workflow's `workflow_output` row (`?1` id).
pub(crate) const EXPORT_OUTPUT: &str =
    "SELECT output, error, retention_timestamp FROM workflow_output WHERE workflow_uuid = ?1";

// language=SQL
/// A workflow's steps (`?1` id).
pub(crate) const EXPORT_STEPS: &str = "\
SELECT function_id, function_name, output, error, child_workflow_id, started_at_epoch_ms,
    completed_at_epoch_ms, serialization, application_name, retention_timestamp
FROM operation_outputs WHERE workflow_uuid = ?1 ORDER BY function_id";

// language=SQL
/// A workflow's events (`?1` id).
pub(crate) const EXPORT_EVENTS: &str =
    "SELECT key, value, serialization FROM workflow_events WHERE workflow_uuid = ?1 ORDER BY key";

// language=SQL
/// A workflow's event history (`?1` id).
pub(crate) const EXPORT_EVENT_HISTORY: &str = "\
SELECT function_id, key, value, serialization FROM workflow_events_history
WHERE workflow_uuid = ?1 ORDER BY function_id, key";

// language=SQL
/// A workflow's stream entries (`?1` id).
pub(crate) const EXPORT_STREAMS: &str = "\
SELECT key, \"offset\", value, function_id, serialization FROM streams
WHERE workflow_uuid = ?1 ORDER BY key, \"offset\"";

// ---------------------------------------------------------------------------------------------
// Import
// ---------------------------------------------------------------------------------------------

// language=SQL
/// Inserts an imported status row (`?1` … `?38` in the order of the exported columns;
/// `owner_xid` stays NULL).
pub(crate) const IMPORT_STATUS: &str = concat!(
    "INSERT INTO workflow_status (",
    exported_status_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
     ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36, \
     ?37, ?38)"
);

// language=SQL
/// Inserts an imported `workflow_input` row (`?1` id, `?2` inputs, `?3` retention timestamp).
pub(crate) const IMPORT_INPUT: &str = "\
INSERT INTO workflow_input (workflow_uuid, inputs, retention_timestamp) VALUES (?1, ?2, ?3)";

// language=SQL
/// Inserts an imported `workflow_output` row (`?1` id, `?2` output, `?3` error, `?4` retention
/// timestamp).
pub(crate) const IMPORT_OUTPUT: &str = "\
INSERT INTO workflow_output (workflow_uuid, output, error, retention_timestamp)
VALUES (?1, ?2, ?3, ?4)";

// language=SQL
/// Inserts an imported step (`?1` id, then the columns of [`EXPORT_STEPS`] in order).
pub(crate) const IMPORT_STEP: &str = "\
INSERT INTO operation_outputs (
    workflow_uuid, function_id, function_name, output, error, child_workflow_id,
    started_at_epoch_ms, completed_at_epoch_ms, serialization, application_name,
    retention_timestamp)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

// language=SQL
/// Inserts an imported event (`?1` id, `?2` key, `?3` value, `?4` serialization).
pub(crate) const IMPORT_EVENT: &str = "\
INSERT INTO workflow_events (workflow_uuid, key, value, serialization) VALUES (?1, ?2, ?3, ?4)";

// language=SQL
/// Inserts an imported event history row (`?1` id, `?2` function_id, `?3` key, `?4` value,
/// `?5` serialization).
pub(crate) const IMPORT_EVENT_HISTORY: &str = "\
INSERT INTO workflow_events_history (workflow_uuid, function_id, key, value, serialization)
VALUES (?1, ?2, ?3, ?4, ?5)";

// language=SQL
/// Inserts an imported stream entry (`?1` id, `?2` key, `?3` offset, `?4` value, `?5`
/// function_id, `?6` serialization).
pub(crate) const IMPORT_STREAM: &str = "\
INSERT INTO streams (workflow_uuid, key, \"offset\", value, function_id, serialization)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
