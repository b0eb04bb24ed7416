//! Normalized views of what messages, events and streams left behind, which the machines
//! compare at the end of a case (and on demand).

use dbos_storage_core::{ExportedWorkflow, Notification, SystemStore};

use super::harness::{observe, Observed};

/// The messages sent to `workflow_id`, normalized and sorted: send times and generated message
/// ids (uuids) go, and an idempotent message keeps its `"{key}::{destination}"` id. The listing's
/// order is not compared: the times a store gives the messages of one batch are its own
/// (PostgreSQL spreads a batch over consecutive milliseconds per topic, in batch order; the
/// model stamps the whole batch with one), and listings sort by time, then id. The order in
/// which a workflow receives its messages is what the contract fixes, and the machines check
/// it with their receives.
pub(crate) fn normalize_notifications(list: Vec<Notification>) -> Vec<String> {
    let mut lines: Vec<String> = list
        .into_iter()
        .map(|n| {
            let id = if n.message_id.contains("::") {
                n.message_id.clone()
            } else {
                "(uuid)".to_owned()
            };
            format!(
                "{id} topic={:?} message={:?} consumed={} by={:?}",
                n.topic, n.message, n.consumed, n.consumed_by_function_id
            )
        })
        .collect();
    lines.sort();
    lines
}

/// The messages of `workflow_id`, normalized ([`normalize_notifications`]).
pub(crate) async fn notifications(store: &dyn SystemStore, workflow_id: &str) -> Observed {
    observe(
        store
            .list_notifications(workflow_id)
            .await
            .map(normalize_notifications),
    )
}

/// The events, the event history and the stream rows of `workflow_id`, as an export reads them
/// (none of them carries a time), each sorted.
pub(crate) async fn published(store: &dyn SystemStore, workflow_id: &str) -> Observed {
    observe(
        store
            .export_workflows(&[workflow_id.to_owned()], false)
            .await
            .map(|export| export.into_iter().map(published_text).collect::<Vec<_>>()),
    )
}

/// An exported workflow's events, event history and stream rows, each sorted, as one line.
pub(crate) fn published_text(mut wf: ExportedWorkflow) -> String {
    wf.events.sort_by(|a, b| a.key.cmp(&b.key));
    wf.event_history
        .sort_by(|a, b| (a.function_id, &a.key).cmp(&(b.function_id, &b.key)));
    wf.streams
        .sort_by(|a, b| (&a.key, a.offset).cmp(&(&b.key, b.offset)));
    format!(
        "events {:?} history {:?} streams {:?}",
        wf.events, wf.event_history, wf.streams
    )
}
