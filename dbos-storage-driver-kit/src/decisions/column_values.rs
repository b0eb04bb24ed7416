//! What the columns of `workflow_status` and `operation_outputs` mean, once a driver has read
//! them as plain values: outcomes, statuses, results, roles and attributes.

use dbos_storage_core::{
    Error, Outcome, Payload, Result, Serialization, WorkflowResult, WorkflowStatus,
};

/// The columns a workflow's final outcome is recorded in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalColumns {
    /// `SUCCESS` for an output or a void return, `ERROR` for an error.
    pub status: WorkflowStatus,
    /// The output, for `SUCCESS`; NULL for a void return.
    pub output: Option<String>,
    /// The error, for `ERROR`.
    pub error: Option<String>,
}

/// The columns that record `outcome` as a workflow's final outcome.
///
/// # Errors
/// [`InvalidInput`](dbos_storage_core::ErrorKind::InvalidInput) for text that cannot be stored.
pub fn final_columns(outcome: Outcome) -> Result<FinalColumns> {
    outcome.validate("workflow outcome")?;
    Ok(match outcome {
        Outcome::Output(p) => FinalColumns {
            status: WorkflowStatus::Success,
            output: Some(p.text),
            error: None,
        },
        Outcome::Void => FinalColumns {
            status: WorkflowStatus::Success,
            output: None,
            error: None,
        },
        Outcome::Error(p) => FinalColumns {
            status: WorkflowStatus::Error,
            output: None,
            error: Some(p.text),
        },
    })
}

/// A step outcome from its `output`, `error` and `serialization` columns: an error wins over an
/// output; neither is `None` (a marker step, a child start or a void return: one row).
pub fn outcome_of(
    output: Option<String>,
    error: Option<String>,
    serialization: Option<&str>,
) -> Option<Outcome> {
    let label = serialization.map(Serialization::parse_label);
    match (output, error) {
        (_, Some(error)) => Some(Outcome::Error(Payload::new(error, label))),
        (Some(output), None) => Some(Outcome::Output(Payload::new(output, label))),
        (None, None) => None,
    }
}

/// The status stored in a `status` column; NULL reads as an unknown, empty status.
pub fn status_of(text: Option<&str>) -> WorkflowStatus {
    WorkflowStatus::parse(text.unwrap_or(""))
}

/// A workflow's result from its status, output, error and serialization label, as
/// [`WorkflowStore::workflow_result`](dbos_storage_core::WorkflowStore::workflow_result) reports it: a
/// finished workflow's outcome, or what it is doing. A `SUCCESS` output that is NULL is a void
/// return ([`Outcome::Void`]); an `ERROR` error that is NULL reads as the error `null`.
pub fn workflow_result(
    status: WorkflowStatus,
    output: Option<String>,
    error: Option<String>,
    serialization: Option<Serialization>,
) -> WorkflowResult {
    match status {
        WorkflowStatus::Success => WorkflowResult::Finished(match output {
            Some(text) => Outcome::Output(Payload::new(text, serialization)),
            None => Outcome::Void,
        }),
        WorkflowStatus::Error => WorkflowResult::Finished(Outcome::Error(Payload::new(
            error.unwrap_or_else(|| "null".to_owned()),
            serialization,
        ))),
        WorkflowStatus::Cancelled => WorkflowResult::Cancelled,
        WorkflowStatus::MaxRecoveryAttemptsExceeded => WorkflowResult::MaxRecoveryAttemptsExceeded,
        other => WorkflowResult::Active(other),
    }
}

/// `authenticated_roles`: a JSON array of strings. Anything else is logged and dropped, as DBOS
/// decodes listings leniently.
pub fn roles(workflow_id: &str, text: Option<String>) -> Option<Vec<String>> {
    let text = text?;
    match serde_json::from_str::<Option<Vec<String>>>(&text) {
        Ok(roles) => roles,
        Err(e) => {
            tracing::warn!(workflow_id, error = %e, "ignoring undecodable authenticated_roles");
            None
        }
    }
}

/// `attributes` as a JSON value (PostgreSQL's JSONB): an object; JSON `null` (DBOS's "unset")
/// and SQL NULL are `None`. Anything else is logged and dropped.
pub fn attributes(
    workflow_id: &str,
    value: Option<serde_json::Value>,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    match value? {
        serde_json::Value::Object(map) => Some(map),
        serde_json::Value::Null => None,
        _ => not_an_object(workflow_id),
    }
}

/// `attributes` as JSON text (SQLite): as [`attributes`], and text that is not JSON is logged and
/// dropped too.
pub fn attributes_text(
    workflow_id: &str,
    text: Option<String>,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_str(&text?) {
        Ok(value) => attributes(workflow_id, Some(value)),
        Err(_) => not_an_object(workflow_id),
    }
}

fn not_an_object(workflow_id: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    tracing::warn!(
        workflow_id,
        "ignoring attributes that are not a JSON object"
    );
    None
}

/// A JSON array of strings, as `authenticated_roles` is stored and as id lists are bound.
///
/// # Errors
/// [`InvalidInput`](dbos_storage_core::ErrorKind::InvalidInput) if the list cannot be encoded.
pub fn json_array(values: &[String]) -> Result<String> {
    serde_json::to_string(values)
        .map_err(|e| Error::invalid_input(format!("cannot encode a list of strings as JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outcome_prefers_the_error() {
        assert_eq!(
            outcome_of(Some("1".into()), Some("e".into()), Some("portable_json")),
            Some(Outcome::Error(Payload::portable_json("e")))
        );
        assert_eq!(
            outcome_of(Some("1".into()), None, None),
            Some(Outcome::Output(Payload::new("1", None)))
        );
        assert_eq!(outcome_of(None, None, None), None);
    }

    #[test]
    fn final_outcomes_fill_one_column() {
        let success = final_columns(Outcome::Output(Payload::portable_json("1"))).unwrap();
        assert_eq!(success.status, WorkflowStatus::Success);
        assert_eq!(
            (success.output.as_deref(), success.error),
            (Some("1"), None)
        );
        let failure = final_columns(Outcome::Error(Payload::portable_json("e"))).unwrap();
        assert_eq!(failure.status, WorkflowStatus::Error);
        assert_eq!(
            (failure.output, failure.error.as_deref()),
            (None, Some("e"))
        );
        let void = final_columns(Outcome::Void).unwrap();
        assert_eq!(
            (void.status, void.output, void.error),
            (WorkflowStatus::Success, None, None)
        );
        let e = final_columns(Outcome::Output(Payload::portable_json("a\0b"))).unwrap_err();
        assert!(e.message().contains("NUL"), "{e}");
    }

    #[test]
    fn results_follow_the_status() {
        let label = Some(Serialization::PortableJson);
        assert_eq!(
            workflow_result(WorkflowStatus::Success, None, None, label.clone()),
            WorkflowResult::Finished(Outcome::Void)
        );
        assert_eq!(
            workflow_result(
                WorkflowStatus::Success,
                Some("null".into()),
                None,
                label.clone()
            ),
            WorkflowResult::Finished(Outcome::Output(Payload::portable_json("null")))
        );
        assert_eq!(
            workflow_result(WorkflowStatus::Error, None, Some("e".into()), label),
            WorkflowResult::Finished(Outcome::Error(Payload::portable_json("e")))
        );
        assert_eq!(
            workflow_result(status_of(Some("CANCELLED")), None, None, None),
            WorkflowResult::Cancelled
        );
        assert_eq!(
            workflow_result(status_of(None), None, None, None),
            WorkflowResult::Active(WorkflowStatus::Other(String::new()))
        );
    }

    #[test]
    fn roles_and_attributes_are_read_leniently() {
        assert_eq!(
            roles("w", Some("[\"a\",\"b\"]".into())),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(roles("w", Some("{".into())), None);
        assert_eq!(roles("w", Some("null".into())), None);
        let map = attributes("w", Some(json!({"k": 1}))).unwrap();
        assert_eq!(map.get("k"), Some(&json!(1)));
        assert_eq!(attributes("w", Some(json!(null))), None);
        assert_eq!(attributes("w", Some(json!([1]))), None);
        assert_eq!(attributes_text("w", Some("{\"k\":1}".into())), Some(map));
        assert_eq!(attributes_text("w", Some("not json".into())), None);
        assert_eq!(attributes_text("w", None), None);
        assert_eq!(json_array(&["a".into()]).unwrap(), "[\"a\"]");
    }
}
