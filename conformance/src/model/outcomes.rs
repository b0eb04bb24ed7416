//! What the model's outcome columns mean: the `output`, `error` and label of a step row, the
//! columns a workflow's final outcome fills, and the result a workflow reports.
//!
//! Each rule is one `match` over [`Outcome`] or [`WorkflowStatus`], so that a new kind of
//! outcome is one arm in each.

use dbos_storage_core::{
    Outcome, Payload, Result, Serialization, WorkflowInfo, WorkflowResult, WorkflowStatus,
};

/// The outcome a step row records: its error when it has one (a failed step may also carry
/// an output column from an older writer, and the error is what a replay must raise), else its
/// output, else none (a step recorded without an outcome).
pub(super) fn recorded(
    output: Option<&str>,
    error: Option<&str>,
    label: Option<&str>,
) -> Option<Outcome> {
    let payload = |text: &str| Payload::new(text, label.map(Serialization::parse_label));
    if let Some(error) = error {
        return Some(Outcome::Error(payload(error)));
    }
    output.map(|output| Outcome::Output(payload(output)))
}

/// The `output`, `error` and label columns a step row stores for `outcome`.
pub(super) fn step_columns(
    outcome: Option<Outcome>,
) -> (Option<String>, Option<String>, Option<String>) {
    let label = |p: &Payload| p.label().map(str::to_owned);
    match outcome {
        // A step that returned nothing is the row with neither column, as one without outcome.
        None | Some(Outcome::Void) => (None, None, None),
        Some(Outcome::Output(p)) => {
            let label = label(&p);
            (Some(p.text), None, label)
        }
        Some(Outcome::Error(p)) => {
            let label = label(&p);
            (None, Some(p.text), label)
        }
    }
}

/// The final columns of a workflow that finished with an outcome: its status, and the text of
/// `workflow_output.output` or `workflow_output.error`.
pub(super) struct FinalColumns {
    pub(super) status: WorkflowStatus,
    pub(super) output: Option<String>,
    pub(super) error: Option<String>,
}

/// The columns that record `outcome` as a workflow's final outcome: `SUCCESS` with the output
/// (NULL for a workflow that returned nothing), or `ERROR` with the error.
///
/// # Errors
/// `InvalidInput` for text no backend can store (the payload's own documented check).
pub(super) fn final_columns(outcome: Outcome) -> Result<FinalColumns> {
    Ok(match outcome {
        Outcome::Output(p) => {
            p.validate("workflow outcome")?;
            FinalColumns {
                status: WorkflowStatus::Success,
                output: Some(p.text),
                error: None,
            }
        }
        Outcome::Void => FinalColumns {
            status: WorkflowStatus::Success,
            output: None,
            error: None,
        },
        Outcome::Error(p) => {
            p.validate("workflow outcome")?;
            FinalColumns {
                status: WorkflowStatus::Error,
                output: None,
                error: Some(p.text),
            }
        }
    })
}

/// What [`WorkflowStore::workflow_result`](dbos_storage_core::WorkflowStore::workflow_result)
/// reports for a workflow read as `info`: a finished workflow's outcome under the workflow's
/// label (`workflow_output` keeps none of its own), or what it is doing. A `SUCCESS` without
/// output text returned nothing ([`Outcome::Void`]); an `ERROR` without error text reports the
/// error `null`.
pub(super) fn result_of(info: WorkflowInfo) -> WorkflowResult {
    let label = info.serialization;
    let payload = move |text: String| Payload::new(text, label);
    match info.status {
        WorkflowStatus::Success => WorkflowResult::Finished(match info.output {
            Some(text) => Outcome::Output(payload(text)),
            None => Outcome::Void,
        }),
        WorkflowStatus::Error => WorkflowResult::Finished(Outcome::Error(payload(
            info.error.unwrap_or_else(|| "null".to_owned()),
        ))),
        WorkflowStatus::Cancelled => WorkflowResult::Cancelled,
        WorkflowStatus::MaxRecoveryAttemptsExceeded => WorkflowResult::MaxRecoveryAttemptsExceeded,
        active => WorkflowResult::Active(active),
    }
}

/// A `portable_json` error named `name` (DBOS's exception class) with `message`, as DBOS
/// encodes one: a JSON object of `name` then `message`.
pub(super) fn portable_error(name: &str, message: &str) -> Payload {
    let quoted = |text: &str| serde_json::Value::from(text).to_string();
    Payload::portable_json(format!(
        "{{\"name\":{},\"message\":{}}}",
        quoted(name),
        quoted(message)
    ))
}
