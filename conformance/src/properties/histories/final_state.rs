//! The state a history leaves, as the contract lets a caller read it: an order explains a
//! history only if the model, after running the calls in that order, is left in the same state
//! as the store.

use dbos_storage_core::{ListStepsOptions, SystemStore, WorkflowInfo};

use crate::normalize::{normalize_step, normalize_workflow};
use crate::properties::machines::views::published_text;

/// A workflow row normalized ([`normalize_workflow`]), with an ownership token the store
/// generated (a claim's, a uuid) shown as `(generated)`: which uuid is each store's own.
fn normalize_row(info: WorkflowInfo) -> WorkflowInfo {
    let mut info = normalize_workflow(info);
    info.owner_xid = info.owner_xid.map(|token| {
        if uuid::Uuid::parse_str(&token).is_ok() {
            "(generated)".to_owned()
        } else {
            token
        }
    });
    info
}

/// What a caller can read about `workflow_ids` after the clients end, normalized: each
/// workflow's row (times as `0`, generated tokens hidden), result and steps with outputs; the
/// messages it holds as a sorted list of `(idempotent id, topic, value, consumed, consumed by)`
/// (send times and generated ids go; the order of unconsumed messages shows in what later
/// receives answer); and its events, event history and streams as an export reads them (none
/// carries a time).
pub(super) async fn final_state<S: SystemStore + ?Sized>(
    store: &S,
    workflow_ids: &[String],
) -> String {
    let mut text = String::new();
    for id in workflow_ids {
        let ids = [id.clone()];
        let row = store
            .get_workflows(&ids)
            .await
            .map(|rows| rows.into_iter().map(normalize_row).collect::<Vec<_>>());
        let result = store.workflow_result(id).await;
        let steps = store
            .list_steps(id, ListStepsOptions::default().load_output(true))
            .await
            .map(|steps| steps.into_iter().map(normalize_step).collect::<Vec<_>>());
        let messages = store.list_notifications(id).await.map(|list| {
            let mut kept: Vec<_> = list
                .into_iter()
                .map(|n| {
                    // An idempotent message's id is `"{key}::{destination}"`; others are uuids.
                    let id = n.message_id.contains("::").then_some(n.message_id);
                    let value = format!("{:?}", n.message);
                    (id, n.topic, value, n.consumed, n.consumed_by_function_id)
                })
                .collect();
            kept.sort();
            kept
        });
        let published = store
            .export_workflows(&ids, false)
            .await
            .map(|export| export.into_iter().map(published_text).collect::<Vec<_>>());
        text += &format!(
            "{id}: row {:?} result {:?} steps {:?} messages {:?} published {:?}\n",
            row.map_err(|e| e.kind()),
            result.map_err(|e| e.kind()),
            steps.map_err(|e| e.kind()),
            messages.map_err(|e| e.kind()),
            published.map_err(|e| e.kind()),
        );
    }
    text
}
