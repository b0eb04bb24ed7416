//! `workflow notifications <id>`: every message sent to a workflow, consumed or not.

use std::process::ExitCode;

use dbos_storage::Notification;
use serde::Serialize;

use super::one;
use crate::connect::Db;
use crate::error::CliError;
use crate::output::{opt, opt_time, print_json, truncate, Table};

/// A message as `--json` prints it.
#[derive(Debug, Serialize)]
struct NotificationJson {
    message_id: String,
    /// `null` for a message sent without a topic.
    topic: Option<String>,
    message: String,
    serialization: Option<String>,
    created_at_epoch_ms: i64,
    consumed: bool,
    consumed_by_function_id: Option<i32>,
}

impl From<&Notification> for NotificationJson {
    fn from(n: &Notification) -> Self {
        NotificationJson {
            message_id: n.message_id.clone(),
            topic: n.topic.clone(),
            message: n.message.text.clone(),
            serialization: n.message.label().map(str::to_owned),
            created_at_epoch_ms: n.created_at_epoch_ms,
            consumed: n.consumed,
            consumed_by_function_id: n.consumed_by_function_id,
        }
    }
}

/// Prints the messages of workflow `id` in send order; an unknown id is an error (the store
/// itself answers an empty list).
pub(super) async fn notifications(db: &Db, id: &str, json: bool) -> Result<ExitCode, CliError> {
    one(db, id).await?;
    let listed = db.store.list_notifications(id).await?;
    let rows: Vec<NotificationJson> = listed.iter().map(NotificationJson::from).collect();
    if json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("workflow {id} has no messages");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&["SENT", "TOPIC", "MESSAGE", "CONSUMED", "MESSAGE ID"]);
    for n in &rows {
        let consumed = match (n.consumed, n.consumed_by_function_id) {
            (false, _) => "no".to_owned(),
            (true, Some(step)) => format!("by step {step}"),
            (true, None) => "yes".to_owned(),
        };
        table.row(vec![
            opt_time(Some(n.created_at_epoch_ms)),
            opt(n.topic.as_deref()),
            truncate(&n.message, 48),
            consumed,
            n.message_id.clone(),
        ]);
    }
    print!("{}", table.render());
    Ok(ExitCode::SUCCESS)
}
