//! Workflows as a versioned JSON document: every row of a workflow (status, input, output,
//! steps, events, event history and streams) with its columns as stored, so an import into any
//! backend reproduces it exactly.
//!
//! The store methods are [`crate::ManagementStore::export_workflows`] and
//! [`crate::ManagementStore::import_workflows`]; [`ExportDocument`] is the file format.
//! Notifications are not exported (as in DBOS Go's `ExportedWorkflow`), and neither is
//! `owner_xid`: an imported workflow is owned by nobody.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::validate;
use crate::EpochMs;

/// The `format` field of every export document.
pub const EXPORT_FORMAT: &str = "dbos-storage-export";

/// The document version this build writes and reads.
pub const EXPORT_VERSION: u32 = 1;

/// An export file: a format tag, a version and the workflows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExportDocument {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// The document version ([`EXPORT_VERSION`]).
    pub version: u32,
    /// The DBOS schema version of the rows ([`crate::DBOS_SCHEMA_VERSION`]).
    pub schema_version: i64,
    /// The workflows, parents before their children.
    pub workflows: Vec<ExportedWorkflow>,
}

impl ExportDocument {
    /// A document of the current version holding `workflows`.
    pub fn new(workflows: Vec<ExportedWorkflow>) -> Self {
        ExportDocument {
            format: EXPORT_FORMAT.to_owned(),
            version: EXPORT_VERSION,
            schema_version: crate::DBOS_SCHEMA_VERSION,
            workflows,
        }
    }

    /// The document as pretty-printed JSON (deterministic: the same rows give the same text).
    ///
    /// # Errors
    /// [`Corrupt`](crate::ErrorKind::Corrupt) if serialization fails (it does not for valid
    /// rows).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::corrupt(format!("cannot write the export document: {e}")))
    }

    /// Parses and checks a document.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for text that is not JSON of this shape
    /// (naming line and column), another format tag, a version this build does not read, or
    /// rows that break the store's input rules.
    pub fn from_json(text: &str) -> Result<Self> {
        let doc: ExportDocument = serde_json::from_str(text).map_err(|e| {
            Error::invalid_input(format!("not a dbos-storage export document: {e}"))
        })?;
        if doc.format != EXPORT_FORMAT {
            return Err(Error::invalid_input(format!(
                "export document format is {:?}, expected {EXPORT_FORMAT:?}",
                doc.format
            )));
        }
        if doc.version != EXPORT_VERSION {
            return Err(Error::invalid_input(format!(
                "export document version {} is not supported by this build (it reads version \
                 {EXPORT_VERSION})",
                doc.version
            )));
        }
        for w in &doc.workflows {
            w.validate()?;
        }
        Ok(doc)
    }
}

/// One workflow and every row that belongs to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExportedWorkflow {
    /// The `workflow_status` row (without `owner_xid`).
    pub status: WorkflowRow,
    /// The `workflow_input` row.
    pub input: Option<InputRow>,
    /// The `workflow_output` row.
    pub output: Option<OutputRow>,
    /// `operation_outputs`, by `function_id`.
    pub steps: Vec<StepRow>,
    /// `workflow_events`, by key.
    pub events: Vec<EventRow>,
    /// `workflow_events_history`, by `(function_id, key)`.
    pub event_history: Vec<EventHistoryRow>,
    /// `streams`, by `(key, offset)`.
    pub streams: Vec<StreamRow>,
}

impl ExportedWorkflow {
    /// A workflow with only its status row; push the other rows afterwards.
    pub fn new(status: WorkflowRow) -> Self {
        ExportedWorkflow {
            status,
            input: None,
            output: None,
            steps: Vec::new(),
            events: Vec::new(),
            event_history: Vec::new(),
            streams: Vec::new(),
        }
    }

    /// The workflow id.
    pub fn workflow_id(&self) -> &str {
        &self.status.workflow_uuid
    }

    /// Sorts every row list into the document order.
    pub fn sort(&mut self) {
        self.steps.sort_by_key(|s| s.function_id);
        self.events.sort_by(|a, b| a.key.cmp(&b.key));
        self.event_history
            .sort_by(|a, b| (a.function_id, &a.key).cmp(&(b.function_id, &b.key)));
        self.streams
            .sort_by(|a, b| (&a.key, a.offset).cmp(&(&b.key, b.offset)));
    }

    /// Checks ids, names and texts against the rules every store applies to new rows.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming the workflow and the field.
    pub fn validate(&self) -> Result<()> {
        let id = &self.status.workflow_uuid;
        let in_workflow =
            |e: Error| Error::invalid_input(format!("exported workflow {id:?}: {}", e.message()));
        validate::workflow_id(id).map_err(in_workflow)?;
        validate::name("workflow status", &self.status.status).map_err(in_workflow)?;
        if let Some(attrs) = &self.status.attributes {
            serde_json::from_str::<serde_json::Value>(attrs).map_err(|e| {
                Error::invalid_input(format!(
                    "exported workflow {id:?}: attributes are not JSON: {e}"
                ))
            })?;
        }
        let texts = [
            &self.status.name,
            &self.status.inputs,
            &self.status.output,
            &self.status.error,
            &self.status.request,
        ];
        for t in texts.into_iter().flatten() {
            crate::payload::validate_text("exported workflow text", t).map_err(in_workflow)?;
        }
        for step in &self.steps {
            validate::function_id(step.function_id).map_err(in_workflow)?;
            crate::payload::validate_text("step name", &step.function_name).map_err(in_workflow)?;
            for t in [&step.output, &step.error].into_iter().flatten() {
                crate::payload::validate_text("step output", t).map_err(in_workflow)?;
            }
        }
        for e in &self.events {
            crate::messages::validate_key("event key", &e.key).map_err(in_workflow)?;
            crate::payload::validate_text("event value", &e.value).map_err(in_workflow)?;
        }
        for e in &self.event_history {
            crate::messages::validate_key("event key", &e.key).map_err(in_workflow)?;
            crate::payload::validate_text("event value", &e.value).map_err(in_workflow)?;
        }
        for s in &self.streams {
            crate::messages::validate_key("stream key", &s.key).map_err(in_workflow)?;
            crate::payload::validate_text("stream value", &s.value).map_err(in_workflow)?;
            if s.offset < 0 {
                return Err(in_workflow(Error::invalid_input(
                    "stream offset is negative",
                )));
            }
        }
        Ok(())
    }
}

/// Rewrites a JSON text in the canonical form exports use (compact, keys sorted), so that
/// PostgreSQL `jsonb` and SQLite `TEXT` export the same attributes. Text that is not JSON is
/// returned unchanged.
pub fn canonical_json(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| text.to_owned())
}

/// Every column of `workflow_status` except `owner_xid`, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[allow(missing_docs)]
pub struct WorkflowRow {
    pub workflow_uuid: String,
    pub status: String,
    pub name: Option<String>,
    pub authenticated_user: Option<String>,
    pub assumed_role: Option<String>,
    /// The JSON array text as stored.
    pub authenticated_roles: Option<String>,
    pub request: Option<String>,
    /// Legacy output column.
    pub output: Option<String>,
    /// Legacy error column.
    pub error: Option<String>,
    pub executor_id: Option<String>,
    pub created_at: EpochMs,
    pub updated_at: EpochMs,
    pub application_version: Option<String>,
    pub application_id: Option<String>,
    pub class_name: Option<String>,
    pub config_name: Option<String>,
    pub recovery_attempts: Option<i64>,
    pub queue_name: Option<String>,
    pub workflow_timeout_ms: Option<i64>,
    pub workflow_deadline_epoch_ms: Option<EpochMs>,
    /// Legacy inputs column.
    pub inputs: Option<String>,
    pub started_at_epoch_ms: Option<EpochMs>,
    pub deduplication_id: Option<String>,
    pub priority: i32,
    pub queue_partition_key: Option<String>,
    pub forked_from: Option<String>,
    pub parent_workflow_id: Option<String>,
    pub serialization: Option<String>,
    pub delay_until_epoch_ms: Option<EpochMs>,
    pub was_forked_from: bool,
    pub rate_limited: bool,
    pub completed_at: Option<EpochMs>,
    /// Canonical JSON text ([`canonical_json`]); `Some("null")` is the JSON null DBOS writes.
    pub attributes: Option<String>,
    pub schedule_name: Option<String>,
    pub debounce_deadline_epoch_ms: Option<EpochMs>,
    pub is_debounced: bool,
    pub application_name: Option<String>,
    pub creator_xid: Option<String>,
}

impl WorkflowRow {
    /// A row with this id, status and creation time and every other column NULL, zero or false.
    pub fn new(
        workflow_uuid: impl Into<String>,
        status: impl Into<String>,
        created_at: EpochMs,
    ) -> Self {
        WorkflowRow {
            workflow_uuid: workflow_uuid.into(),
            status: status.into(),
            name: None,
            authenticated_user: None,
            assumed_role: None,
            authenticated_roles: None,
            request: None,
            output: None,
            error: None,
            executor_id: None,
            created_at,
            updated_at: created_at,
            application_version: None,
            application_id: None,
            class_name: None,
            config_name: None,
            recovery_attempts: Some(0),
            queue_name: None,
            workflow_timeout_ms: None,
            workflow_deadline_epoch_ms: None,
            inputs: None,
            started_at_epoch_ms: None,
            deduplication_id: None,
            priority: 0,
            queue_partition_key: None,
            forked_from: None,
            parent_workflow_id: None,
            serialization: None,
            delay_until_epoch_ms: None,
            was_forked_from: false,
            rate_limited: false,
            completed_at: None,
            attributes: None,
            schedule_name: None,
            debounce_deadline_epoch_ms: None,
            is_debounced: false,
            application_name: None,
            creator_xid: None,
        }
    }
}

/// A `workflow_input` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InputRow {
    /// The serialized inputs.
    pub inputs: Option<String>,
    /// Retention order.
    pub retention_timestamp: EpochMs,
}

impl InputRow {
    /// An input row.
    pub fn new(inputs: Option<String>, retention_timestamp: EpochMs) -> Self {
        InputRow {
            inputs,
            retention_timestamp,
        }
    }
}

/// A `workflow_output` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutputRow {
    /// The serialized output.
    pub output: Option<String>,
    /// The serialized error.
    pub error: Option<String>,
    /// Retention order.
    pub retention_timestamp: EpochMs,
}

impl OutputRow {
    /// An output row.
    pub fn new(
        output: Option<String>,
        error: Option<String>,
        retention_timestamp: EpochMs,
    ) -> Self {
        OutputRow {
            output,
            error,
            retention_timestamp,
        }
    }
}

/// An `operation_outputs` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[allow(missing_docs)]
pub struct StepRow {
    pub function_id: i32,
    pub function_name: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub child_workflow_id: Option<String>,
    pub started_at_epoch_ms: Option<EpochMs>,
    pub completed_at_epoch_ms: Option<EpochMs>,
    pub serialization: Option<String>,
    pub application_name: Option<String>,
    pub retention_timestamp: EpochMs,
}

impl StepRow {
    /// A step row with this position and name and no outcome, child or times.
    pub fn new(
        function_id: i32,
        function_name: impl Into<String>,
        retention_timestamp: EpochMs,
    ) -> Self {
        StepRow {
            function_id,
            function_name: function_name.into(),
            output: None,
            error: None,
            child_workflow_id: None,
            started_at_epoch_ms: None,
            completed_at_epoch_ms: None,
            serialization: None,
            application_name: None,
            retention_timestamp,
        }
    }
}

/// A `workflow_events` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[allow(missing_docs)]
pub struct EventRow {
    pub key: String,
    pub value: String,
    pub serialization: Option<String>,
}

impl EventRow {
    /// An event row.
    pub fn new(
        key: impl Into<String>,
        value: impl Into<String>,
        serialization: Option<String>,
    ) -> Self {
        EventRow {
            key: key.into(),
            value: value.into(),
            serialization,
        }
    }
}

/// A `workflow_events_history` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[allow(missing_docs)]
pub struct EventHistoryRow {
    pub function_id: i32,
    pub key: String,
    pub value: String,
    pub serialization: Option<String>,
}

impl EventHistoryRow {
    /// An event history row.
    pub fn new(
        function_id: i32,
        key: impl Into<String>,
        value: impl Into<String>,
        serialization: Option<String>,
    ) -> Self {
        EventHistoryRow {
            function_id,
            key: key.into(),
            value: value.into(),
            serialization,
        }
    }
}

/// A `streams` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[allow(missing_docs)]
pub struct StreamRow {
    pub key: String,
    pub offset: i32,
    pub value: String,
    pub function_id: i32,
    pub serialization: Option<String>,
}

impl StreamRow {
    /// A stream row.
    pub fn new(
        key: impl Into<String>,
        offset: i32,
        value: impl Into<String>,
        function_id: i32,
        serialization: Option<String>,
    ) -> Self {
        StreamRow {
            key: key.into(),
            offset,
            value: value.into(),
            function_id,
            serialization,
        }
    }
}

/// Options of [`crate::ManagementStore::import_workflows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ImportOptions {
    /// Replace workflows that already exist (all their rows are deleted first). Without it an
    /// existing id fails the whole import.
    pub replace_existing: bool,
}

impl ImportOptions {
    /// Replace existing workflows.
    #[must_use]
    pub fn replace_existing(mut self, yes: bool) -> Self {
        self.replace_existing = yes;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ExportedWorkflow {
        let mut status = WorkflowRow::new("wf-1", "SUCCESS", 1_000);
        status.name = Some("f".into());
        status.attributes = Some(canonical_json(r#"{ "b": 1, "a": [true] }"#));
        let mut w = ExportedWorkflow::new(status);
        w.input = Some(InputRow::new(Some("[]".into()), 1_000));
        w.steps.push(StepRow::new(2, "b", 1_002));
        w.steps.push(StepRow::new(1, "a", 1_001));
        w.streams.push(StreamRow::new("s", 1, "\"y\"", 2, None));
        w.streams.push(StreamRow::new("s", 0, "\"x\"", 1, None));
        w.sort();
        w
    }

    #[test]
    fn documents_round_trip_and_are_deterministic() {
        let doc = ExportDocument::new(vec![sample()]);
        let text = doc.to_json().unwrap();
        let back = ExportDocument::from_json(&text).unwrap();
        assert_eq!(back, doc);
        assert_eq!(back.to_json().unwrap(), text);
        assert_eq!(doc.workflows[0].steps[0].function_id, 1);
        assert_eq!(doc.workflows[0].streams[0].offset, 0);
        assert_eq!(
            doc.workflows[0].status.attributes.as_deref(),
            Some(r#"{"a":[true],"b":1}"#)
        );
    }

    #[test]
    fn bad_documents_are_refused_with_the_reason() {
        let e = ExportDocument::from_json("{").unwrap_err();
        assert!(
            e.message().contains("not a dbos-storage export document"),
            "{e}"
        );
        let mut doc = ExportDocument::new(vec![]);
        doc.version = 99;
        let e = ExportDocument::from_json(&doc.to_json().unwrap()).unwrap_err();
        assert!(e.message().contains("version 99"), "{e}");
        let mut doc = ExportDocument::new(vec![sample()]);
        doc.workflows[0].steps[0].output = Some("a\0b".into());
        let e = ExportDocument::from_json(&doc.to_json().unwrap()).unwrap_err();
        assert!(
            e.message().contains("wf-1") && e.message().contains("NUL"),
            "{e}"
        );
    }
}
