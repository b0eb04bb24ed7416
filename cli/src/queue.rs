//! `queue list`: the queue registry next to the active workflows of every queue.

use std::collections::BTreeMap;
use std::process::ExitCode;

use dbos_storage::{DbosConfig, ListWorkflowsQuery, QueueDefinition, RateLimit, WorkflowStatus};
use serde::Serialize;

use crate::cli::QueueCommand;
use crate::connect::{self, Mode};
use crate::error::CliError;
use crate::output::{print_json, Table};

/// One queue as `--json` prints it.
#[derive(Debug, Default, Serialize)]
struct QueueJson {
    name: String,
    /// Whether the queue has a definition in the registry (`queues` table).
    registered: bool,
    application_name: Option<String>,
    concurrency: Option<u32>,
    worker_concurrency: Option<u32>,
    rate_limit: Option<RateJson>,
    partition_concurrency: Option<u32>,
    partition_worker_concurrency: Option<u32>,
    partition_rate_limit: Option<RateJson>,
    polling_interval_ms: Option<u128>,
    enqueued: usize,
    pending: usize,
    delayed: usize,
}

#[derive(Debug, Serialize)]
struct RateJson {
    max: u32,
    period_ms: u128,
}

fn rate(r: Option<RateLimit>) -> Option<RateJson> {
    r.map(|r| RateJson {
        max: r.max,
        period_ms: r.period.as_millis(),
    })
}

impl From<&QueueDefinition> for QueueJson {
    fn from(q: &QueueDefinition) -> Self {
        let l = &q.limits;
        QueueJson {
            name: q.name.clone(),
            registered: true,
            application_name: q.application_name.clone(),
            concurrency: l.concurrency,
            worker_concurrency: l.worker_concurrency,
            rate_limit: rate(l.rate_limit),
            partition_concurrency: l.partition_concurrency,
            partition_worker_concurrency: l.partition_worker_concurrency,
            partition_rate_limit: rate(l.partition_rate_limit),
            polling_interval_ms: Some(q.polling_interval.as_millis()),
            ..QueueJson::default()
        }
    }
}

pub(crate) async fn run(
    config: &DbosConfig,
    command: QueueCommand,
    json: bool,
) -> Result<ExitCode, CliError> {
    let QueueCommand::List { application } = command;
    let db = connect::open(config, Mode::Verify).await?;
    let result = async {
        let defined = db.store.list_queues(application.as_deref()).await?;
        // One read of the active queued workflows (no payloads), counted per queue.
        let mut query = ListWorkflowsQuery::new().queues_only(true);
        if let Some(app) = &application {
            query = query.application_name(app.clone());
        }
        let active = db.store.list_workflows(query).await?;
        Ok::<_, CliError>((defined, active))
    }
    .await;
    db.close().await;
    let (defined, active) = result?;

    let mut queues: BTreeMap<String, QueueJson> = defined
        .iter()
        .map(|q| (q.name.clone(), QueueJson::from(q)))
        .collect();
    for w in &active {
        let Some(name) = &w.queue_name else { continue };
        let q = queues.entry(name.clone()).or_insert_with(|| QueueJson {
            name: name.clone(),
            ..QueueJson::default()
        });
        match w.status {
            WorkflowStatus::Enqueued => q.enqueued += 1,
            WorkflowStatus::Pending => q.pending += 1,
            WorkflowStatus::Delayed => q.delayed += 1,
            _ => {}
        }
    }
    let queues: Vec<QueueJson> = queues.into_values().collect();
    if json {
        print_json(&queues)?;
        return Ok(ExitCode::SUCCESS);
    }
    if queues.is_empty() {
        println!("no queues (none registered, none with active workflows)");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        "QUEUE",
        ">ENQUEUED",
        ">PENDING",
        ">DELAYED",
        ">CONCURRENCY",
        ">WORKER",
        "RATE LIMIT",
        "PARTITIONS",
        "APPLICATION",
    ]);
    let num = |n: Option<u32>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    for q in &queues {
        let rate = q.rate_limit.as_ref().map_or_else(
            || "-".to_owned(),
            |r| format!("{}/{} s", r.max, r.period_ms as f64 / 1000.0),
        );
        let partitions = if q.partition_concurrency.is_some()
            || q.partition_worker_concurrency.is_some()
            || q.partition_rate_limit.is_some()
        {
            format!(
                "concurrency {}, worker {}",
                num(q.partition_concurrency),
                num(q.partition_worker_concurrency)
            )
        } else {
            "-".to_owned()
        };
        let name = if q.registered {
            q.name.clone()
        } else {
            format!("{} (not registered)", q.name)
        };
        table.row(vec![
            name,
            q.enqueued.to_string(),
            q.pending.to_string(),
            q.delayed.to_string(),
            num(q.concurrency),
            num(q.worker_concurrency),
            rate,
            partitions,
            q.application_name.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    print!("{}", table.render());
    Ok(ExitCode::SUCCESS)
}
