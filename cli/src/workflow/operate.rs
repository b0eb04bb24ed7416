//! `workflow fork|rewind|delete|attributes`: the operator actions that change workflows.

use std::process::ExitCode;

use dbos_storage::{
    delete_everywhere, rewind_everywhere, AttributeUpdate, DbosConfig, DeleteOptions, ForkRequest,
    ForkStart, RewindRequest,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::cli::{ForkArgs, RewindArgs, StartArgs};
use crate::connect::{self, Db};
use crate::error::CliError;
use crate::output::print_json;

/// The start of a fork or rewind from its flags (default: step 1).
fn start(args: &StartArgs) -> ForkStart {
    if args.from_failure {
        ForkStart::LastFailure
    } else if let Some(name) = &args.from_step_named {
        ForkStart::NamedStep(name.clone())
    } else {
        ForkStart::Step(args.from_step.unwrap_or(1))
    }
}

/// The fork requests of `workflow fork`'s arguments, checked before connecting.
pub(super) fn fork_requests(args: &ForkArgs) -> Result<Vec<ForkRequest>, CliError> {
    if args.fork_id.is_some() && args.ids.len() > 1 {
        return Err(CliError::new(
            "--fork-id names one fork; give one workflow id with it",
        ));
    }
    let mut children = Vec::new();
    for pair in &args.replace_child {
        let Some((old, new)) = pair.split_once('=') else {
            return Err(CliError::new(format!(
                "--replace-child {pair:?} is not OLD=NEW"
            )));
        };
        children.push((old.to_owned(), new.to_owned()));
    }
    let requests: Vec<ForkRequest> = args
        .ids
        .iter()
        .map(|id| {
            let mut r = ForkRequest::new(id.clone(), start(&args.start));
            if let Some(f) = &args.fork_id {
                r = r.with_fork_id(f.clone());
            }
            if let Some(q) = &args.queue {
                r = r.on_queue(q.clone(), args.partition.clone());
            } else if let Some(p) = &args.partition {
                r.queue_partition_key = Some(p.clone());
            }
            if let Some(v) = &args.app_version {
                r = r.with_application_version(v.clone());
            }
            if let Some(a) = &args.application {
                r = r.with_application_name(a.clone());
            }
            for (old, new) in &children {
                r = r.replace_child(old.clone(), new.clone());
            }
            r
        })
        .collect();
    // Assigns generated ids here, so the output names them and a retry reuses them.
    Ok(dbos_storage::management::prepare_forks(requests)?)
}

/// A fork as `--json` prints it.
#[derive(Debug, Serialize)]
struct ForkJson {
    source: String,
    fork: String,
    start_step: i32,
}

pub(super) async fn fork(
    db: &Db,
    requests: Vec<ForkRequest>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let queues: Vec<String> = requests
        .iter()
        .map(|r| {
            r.queue_name
                .clone()
                .unwrap_or_else(|| dbos_storage::INTERNAL_QUEUE.to_owned())
        })
        .collect();
    let forks = db.store.fork_workflows(requests).await?;
    if json {
        let out: Vec<ForkJson> = forks
            .iter()
            .map(|f| ForkJson {
                source: f.source_workflow_id.clone(),
                fork: f.workflow_id.clone(),
                start_step: f.start_step,
            })
            .collect();
        print_json(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    for (f, queue) in forks.iter().zip(queues) {
        println!(
            "forked {} -> {} (replays steps before {}, runs from step {}; enqueued on {queue})",
            f.source_workflow_id, f.workflow_id, f.start_step, f.start_step
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The rewind request of `workflow rewind`'s arguments.
pub(super) fn rewind_request(args: &RewindArgs) -> Result<RewindRequest, CliError> {
    let mut r = RewindRequest::new(args.id.clone(), start(&args.start));
    if let Some(q) = &args.queue {
        r = r.on_queue(q.clone(), args.partition.clone());
    } else if let Some(p) = &args.partition {
        r.queue_partition_key = Some(p.clone());
    }
    if let Some(v) = &args.app_version {
        r = r.with_application_version(v.clone());
    }
    r.validate()?;
    Ok(r)
}

/// A rewind as `--json` prints it.
#[derive(Debug, Serialize)]
struct RewindJson {
    workflow_id: String,
    start_step: i32,
    previous_status: String,
}

pub(super) async fn rewind(
    db: &Db,
    config: &DbosConfig,
    request: RewindRequest,
    json: bool,
) -> Result<ExitCode, CliError> {
    let app = connect::open_app(config).await?;
    let done = rewind_everywhere(db.store.as_ref(), app.as_deref(), request).await;
    if let Some(app) = &app {
        let _ = app.close().await;
    }
    let done = done?;
    if json {
        print_json(&RewindJson {
            workflow_id: done.workflow_id,
            start_step: done.start_step,
            previous_status: done.previous_status.to_string(),
        })?;
    } else {
        println!(
            "rewound {} (was {}): runs again from step {}, enqueued",
            done.workflow_id, done.previous_status, done.start_step
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What `delete` prints with `--json`.
#[derive(Debug, Serialize)]
struct DeleteJson {
    deleted: Vec<String>,
    unknown: Vec<String>,
}

pub(super) async fn delete(
    db: &Db,
    config: &DbosConfig,
    ids: &[String],
    children: bool,
    json: bool,
) -> Result<ExitCode, CliError> {
    let app = connect::open_app(config).await?;
    let options = DeleteOptions::default().delete_children(children);
    let deleted = delete_everywhere(db.store.as_ref(), app.as_deref(), ids, options).await;
    if let Some(app) = &app {
        let _ = app.close().await;
    }
    let deleted = deleted?;
    let unknown: Vec<String> = ids
        .iter()
        .filter(|id| !deleted.contains(id))
        .cloned()
        .collect();
    if json {
        print_json(&DeleteJson { deleted, unknown })?;
    } else {
        for id in &deleted {
            println!("deleted {id}");
        }
        for id in &unknown {
            println!("unknown {id} (nothing deleted)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `--set` pairs as a map.
pub(super) fn attribute_map(pairs: &[String]) -> Result<Map<String, Value>, CliError> {
    let map = super::key_values("--set", pairs)?;
    dbos_storage::validate::attributes(&map)?;
    Ok(map)
}

pub(super) async fn attributes(
    db: &Db,
    id: &str,
    map: Map<String, Value>,
    merge: bool,
    json: bool,
) -> Result<ExitCode, CliError> {
    let mode = if merge {
        AttributeUpdate::Merge
    } else {
        AttributeUpdate::Replace
    };
    let stored = db.store.update_workflow_attributes(id, map, mode).await?;
    if json {
        print_json(&stored)?;
    } else {
        println!("attributes of {id}: {}", Value::Object(stored));
    }
    Ok(ExitCode::SUCCESS)
}
