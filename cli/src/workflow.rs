//! `workflow list|get|steps|notifications|cancel|resume|fork|rewind|delete|attributes`.

use std::process::ExitCode;

use dbos_storage::{
    CancelOptions, DbosConfig, ListStepsOptions, ListWorkflowsQuery, ResumeOptions, SortOrder,
    StepInfo, WorkflowInfo, WorkflowStatus,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::cli::{ListArgs, Sort, WorkflowCommand};
use crate::connect::{self, Db, Mode};
use crate::error::CliError;
use crate::output::{opt, opt_time, pairs, parse_time, print_json, truncate, Table};

mod notifications;
mod operate;

pub(crate) async fn run(
    config: &DbosConfig,
    command: WorkflowCommand,
    json: bool,
) -> Result<ExitCode, CliError> {
    // Arguments are checked before connecting, so a typo costs no connection.
    let query = match &command {
        WorkflowCommand::List(args) => Some(list_query(args)?),
        _ => None,
    };
    let forks = match &command {
        WorkflowCommand::Fork(args) => Some(operate::fork_requests(args)?),
        _ => None,
    };
    let rewind = match &command {
        WorkflowCommand::Rewind(args) => Some(operate::rewind_request(args)?),
        _ => None,
    };
    let attributes = match &command {
        WorkflowCommand::Attributes { set, .. } => Some(operate::attribute_map(set)?),
        _ => None,
    };
    let db = connect::open(config, Mode::Verify).await?;
    let result = match command {
        WorkflowCommand::List(_) => list(&db, query.unwrap_or_default(), json).await,
        WorkflowCommand::Get { id } => get(&db, &id, json).await,
        WorkflowCommand::Steps { id } => steps(&db, &id, json).await,
        WorkflowCommand::Notifications { id } => notifications::notifications(&db, &id, json).await,
        WorkflowCommand::Cancel { ids, children } => cancel(&db, &ids, children, json).await,
        WorkflowCommand::Resume { ids, queue } => resume(&db, &ids, queue, json).await,
        WorkflowCommand::Fork(_) => operate::fork(&db, forks.unwrap_or_default(), json).await,
        WorkflowCommand::Rewind(_) => match rewind {
            Some(request) => operate::rewind(&db, config, request, json).await,
            None => unreachable!("built above"),
        },
        WorkflowCommand::Delete { ids, children } => {
            operate::delete(&db, config, &ids, children, json).await
        }
        WorkflowCommand::Attributes { id, merge, .. } => {
            let map = attributes.unwrap_or_default();
            operate::attributes(&db, &id, map, merge, json).await
        }
    };
    db.close().await;
    result
}

/// The `ListWorkflowsQuery` of `workflow list`'s options.
fn list_query(args: &ListArgs) -> Result<ListWorkflowsQuery, CliError> {
    let mut q = ListWorkflowsQuery::new()
        .limit(args.limit)
        .sort(match (args.sort, args.sort_desc) {
            (Sort::Asc, false) => SortOrder::Ascending,
            (Sort::Desc, _) | (_, true) => SortOrder::Descending,
        })
        .queues_only(args.queues_only)
        .load_input(args.load_input)
        .load_output(args.load_output);
    if !args.ids.is_empty() {
        q = q.workflow_ids(args.ids.iter().cloned());
    }
    if !args.prefix.is_empty() {
        q = q.workflow_id_prefixes(args.prefix.iter().cloned());
    }
    if !args.status.is_empty() {
        let statuses = args
            .status
            .iter()
            .map(|s| parse_status(s))
            .collect::<Result<Vec<_>, _>>()?;
        q = q.status(statuses);
    }
    if !args.name.is_empty() {
        q = q.name(args.name.iter().cloned());
    }
    if !args.app_version.is_empty() {
        q = q.application_version(args.app_version.iter().cloned());
    }
    if !args.executor.is_empty() {
        q = q.executor_id(args.executor.iter().cloned());
    }
    if !args.queue.is_empty() {
        q = q.queue_name(args.queue.iter().cloned());
    }
    if !args.user.is_empty() {
        q = q.authenticated_user(args.user.iter().cloned());
    }
    if !args.schedule.is_empty() {
        q = q.schedule_names(args.schedule.iter().cloned());
    }
    if !args.forked_from.is_empty() {
        q = q.forked_from_any(args.forked_from.iter().cloned());
    }
    if !args.parent.is_empty() {
        q = q.parent_workflow_ids(args.parent.iter().cloned());
    }
    let times = [
        ("--start-time", &args.start_time),
        ("--end-time", &args.end_time),
        ("--completed-after", &args.completed_after),
        ("--completed-before", &args.completed_before),
        ("--dequeued-after", &args.dequeued_after),
        ("--dequeued-before", &args.dequeued_before),
    ];
    for (flag, value) in times {
        let Some(text) = value else { continue };
        let t = parse_time(flag, text)?;
        q = match flag {
            "--start-time" => q.start_time(t),
            "--end-time" => q.end_time(t),
            "--completed-after" => q.completed_after(t),
            "--completed-before" => q.completed_before(t),
            "--dequeued-after" => q.dequeued_after(t),
            _ => q.dequeued_before(t),
        };
    }
    if let Some(v) = args.was_forked_from {
        q = q.was_forked_from(v);
    }
    if let Some(v) = args.is_fork {
        q = q.is_fork(v);
    }
    if let Some(v) = args.has_parent {
        q = q.has_parent(v);
    }
    if !args.attributes.is_empty() {
        q = q.attributes(key_values("--attribute", &args.attributes)?);
    }
    if !args.application.is_empty() {
        q = q.application_names(args.application.iter().cloned());
    }
    if let Some(v) = args.offset {
        q = q.offset(v);
    }
    Ok(q)
}

/// `KEY=VALUE` arguments as a JSON map: VALUE as JSON when it parses, else as a string.
fn key_values(flag: &str, pairs: &[String]) -> Result<Map<String, Value>, CliError> {
    let mut map = Map::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(CliError::new(format!("{flag} {pair:?} is not KEY=VALUE")));
        };
        let value = serde_json::from_str(value).unwrap_or(Value::String(value.to_owned()));
        map.insert(key.to_owned(), value);
    }
    Ok(map)
}

/// A status argument, case-insensitive; only the statuses this build knows.
fn parse_status(text: &str) -> Result<WorkflowStatus, CliError> {
    let upper = text.trim().to_ascii_uppercase();
    WorkflowStatus::KNOWN
        .iter()
        .find(|s| s.as_str() == upper)
        .cloned()
        .ok_or_else(|| {
            let known: Vec<&str> = WorkflowStatus::KNOWN.iter().map(|s| s.as_str()).collect();
            CliError::new(format!(
                "unknown status {text:?}; use one of {}",
                known.join(", ")
            ))
        })
}

/// A workflow as `--json` prints it: every column, times in epoch milliseconds.
#[derive(Debug, Serialize)]
struct WorkflowJson {
    workflow_id: String,
    status: String,
    name: String,
    class_name: Option<String>,
    config_name: Option<String>,
    authenticated_user: Option<String>,
    assumed_role: Option<String>,
    authenticated_roles: Option<Vec<String>>,
    executor_id: Option<String>,
    created_at: i64,
    updated_at: i64,
    application_version: Option<String>,
    application_id: Option<String>,
    application_name: Option<String>,
    recovery_attempts: i64,
    queue_name: Option<String>,
    workflow_timeout_ms: Option<i64>,
    workflow_deadline_epoch_ms: Option<i64>,
    dequeued_at: Option<i64>,
    deduplication_id: Option<String>,
    priority: i32,
    queue_partition_key: Option<String>,
    forked_from: Option<String>,
    was_forked_from: bool,
    parent_workflow_id: Option<String>,
    delay_until_epoch_ms: Option<i64>,
    completed_at: Option<i64>,
    schedule_name: Option<String>,
    attributes: Option<Map<String, Value>>,
    owner_xid: Option<String>,
    rate_limited: bool,
    is_debounced: bool,
    debounce_deadline_epoch_ms: Option<i64>,
    serialization: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inputs: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl From<&WorkflowInfo> for WorkflowJson {
    fn from(w: &WorkflowInfo) -> Self {
        WorkflowJson {
            workflow_id: w.workflow_id.clone(),
            status: w.status.to_string(),
            name: w.name.clone(),
            class_name: w.class_name.clone(),
            config_name: w.config_name.clone(),
            authenticated_user: w.authenticated_user.clone(),
            assumed_role: w.assumed_role.clone(),
            authenticated_roles: w.authenticated_roles.clone(),
            executor_id: w.executor_id.clone(),
            created_at: w.created_at,
            updated_at: w.updated_at,
            application_version: w.application_version.clone(),
            application_id: w.application_id.clone(),
            application_name: w.application_name.clone(),
            recovery_attempts: w.recovery_attempts,
            queue_name: w.queue_name.clone(),
            workflow_timeout_ms: w.workflow_timeout_ms,
            workflow_deadline_epoch_ms: w.workflow_deadline_epoch_ms,
            dequeued_at: w.started_at_epoch_ms,
            deduplication_id: w.deduplication_id.clone(),
            priority: w.priority,
            queue_partition_key: w.queue_partition_key.clone(),
            forked_from: w.forked_from.clone(),
            was_forked_from: w.was_forked_from,
            parent_workflow_id: w.parent_workflow_id.clone(),
            delay_until_epoch_ms: w.delay_until_epoch_ms,
            completed_at: w.completed_at,
            schedule_name: w.schedule_name.clone(),
            attributes: w.attributes.clone(),
            owner_xid: w.owner_xid.clone(),
            rate_limited: w.rate_limited,
            is_debounced: w.is_debounced,
            debounce_deadline_epoch_ms: w.debounce_deadline_epoch_ms,
            serialization: w.serialization.as_ref().map(|s| s.as_label().to_owned()),
            inputs: w.inputs.clone(),
            output: w.output.clone(),
            error: w.error.clone(),
        }
    }
}

async fn list(db: &Db, query: ListWorkflowsQuery, json: bool) -> Result<ExitCode, CliError> {
    let rows = db.store.list_workflows(query).await?;
    if json {
        let out: Vec<WorkflowJson> = rows.iter().map(WorkflowJson::from).collect();
        print_json(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no workflows");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        "WORKFLOW ID",
        "STATUS",
        "NAME",
        "QUEUE",
        "EXECUTOR",
        "CREATED",
        "COMPLETED",
        ">ATTEMPTS",
    ]);
    for w in &rows {
        table.row(vec![
            w.workflow_id.clone(),
            w.status.to_string(),
            w.name.clone(),
            opt(w.queue_name.as_deref()),
            opt(w.executor_id.as_deref()),
            opt_time(Some(w.created_at)),
            opt_time(w.completed_at),
            w.recovery_attempts.to_string(),
        ]);
    }
    print!("{}", table.render());
    Ok(ExitCode::SUCCESS)
}

/// Reads one workflow, or fails naming it.
async fn one(db: &Db, id: &str) -> Result<WorkflowInfo, CliError> {
    db.store
        .get_workflows(&[id.to_owned()])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| CliError::new(format!("no workflow {id:?} in {}", db.url)))
}

async fn get(db: &Db, id: &str, json: bool) -> Result<ExitCode, CliError> {
    let w = one(db, id).await?;
    if json {
        print_json(&WorkflowJson::from(&w))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: String| rows.push((k.to_owned(), v));
    add("workflow id", w.workflow_id.clone());
    add("status", w.status.to_string());
    add("name", w.name.clone());
    add("class", opt(w.class_name.as_deref()));
    add("config", opt(w.config_name.as_deref()));
    add("queue", opt(w.queue_name.as_deref()));
    add("executor", opt(w.executor_id.as_deref()));
    add("application", opt(w.application_name.as_deref()));
    add("app version", opt(w.application_version.as_deref()));
    add("created", opt_time(Some(w.created_at)));
    add("updated", opt_time(Some(w.updated_at)));
    add("dequeued", opt_time(w.started_at_epoch_ms));
    add("completed", opt_time(w.completed_at));
    add("deadline", opt_time(w.workflow_deadline_epoch_ms));
    add("attempts", w.recovery_attempts.to_string());
    add("priority", w.priority.to_string());
    add("dedup id", opt(w.deduplication_id.as_deref()));
    add("debounced", w.is_debounced.to_string());
    add("debounce cap", opt_time(w.debounce_deadline_epoch_ms));
    add("rate limited", w.rate_limited.to_string());
    add("owner token", opt(w.owner_xid.as_deref()));
    add("partition", opt(w.queue_partition_key.as_deref()));
    add("parent", opt(w.parent_workflow_id.as_deref()));
    add("forked from", opt(w.forked_from.as_deref()));
    add("schedule", opt(w.schedule_name.as_deref()));
    add("user", opt(w.authenticated_user.as_deref()));
    add(
        "serialization",
        opt(w.serialization.as_ref().map(|s| s.as_label())),
    );
    if let Some(attrs) = &w.attributes {
        add("attributes", Value::Object(attrs.clone()).to_string());
    }
    add("inputs", opt(w.inputs.as_deref()));
    match &w.output {
        Some(o) => add("output", o.clone()),
        // A void return: DBOS leaves the column NULL, unlike a returned JSON `null`.
        None if w.status == WorkflowStatus::Success => add("output", "(none: NULL)".to_owned()),
        None => {}
    }
    if let Some(e) = &w.error {
        add("error", e.clone());
    }
    print!("{}", pairs(&rows));
    Ok(ExitCode::SUCCESS)
}

/// A step as `--json` prints it.
#[derive(Debug, Serialize)]
struct StepJson {
    function_id: i32,
    function_name: String,
    output: Option<String>,
    error: Option<String>,
    child_workflow_id: Option<String>,
    started_at_epoch_ms: Option<i64>,
    completed_at_epoch_ms: Option<i64>,
}

impl From<&StepInfo> for StepJson {
    fn from(s: &StepInfo) -> Self {
        let (output, error) = match &s.outcome {
            Some(dbos_storage::Outcome::Output(p)) => (Some(p.text.clone()), None),
            Some(dbos_storage::Outcome::Error(p)) => (None, Some(p.text.clone())),
            Some(dbos_storage::Outcome::Void) | None => (None, None),
        };
        StepJson {
            function_id: s.function_id,
            function_name: s.function_name.clone(),
            output,
            error,
            child_workflow_id: s.child_workflow_id.clone(),
            started_at_epoch_ms: s.started_at_epoch_ms,
            completed_at_epoch_ms: s.completed_at_epoch_ms,
        }
    }
}

async fn steps(db: &Db, id: &str, json: bool) -> Result<ExitCode, CliError> {
    one(db, id).await?;
    let steps = db
        .store
        .list_steps(id, ListStepsOptions::default().load_output(true))
        .await?;
    let rows: Vec<StepJson> = steps.iter().map(StepJson::from).collect();
    if json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("workflow {id} has no recorded steps");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[">STEP", "NAME", "RESULT", "CHILD", "STARTED", "COMPLETED"]);
    for s in &rows {
        let result = match (&s.output, &s.error) {
            (_, Some(e)) => format!("error: {}", truncate(e, 40)),
            (Some(o), None) => truncate(o, 48),
            (None, None) => "-".to_owned(),
        };
        table.row(vec![
            s.function_id.to_string(),
            s.function_name.clone(),
            result,
            opt(s.child_workflow_id.as_deref()),
            opt_time(s.started_at_epoch_ms),
            opt_time(s.completed_at_epoch_ms),
        ]);
    }
    print!("{}", table.render());
    Ok(ExitCode::SUCCESS)
}

/// What `cancel` and `resume` print with `--json`.
#[derive(Debug, Serialize)]
struct Changed {
    changed: Vec<String>,
    unchanged: Vec<String>,
}

fn changed(ids: &[String], changed: Vec<String>) -> Changed {
    let unchanged = ids
        .iter()
        .filter(|id| !changed.contains(id))
        .cloned()
        .collect();
    Changed { changed, unchanged }
}

async fn cancel(db: &Db, ids: &[String], children: bool, json: bool) -> Result<ExitCode, CliError> {
    let done = db
        .store
        .cancel_workflows(ids, CancelOptions::default().cancel_children(children))
        .await?;
    let report = changed(ids, done);
    if json {
        print_json(&report)?;
    } else {
        for id in &report.changed {
            println!("cancelled {id}");
        }
        for id in &report.unchanged {
            println!("unchanged {id} (already finished or cancelled, or unknown)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn resume(
    db: &Db,
    ids: &[String],
    queue: Option<String>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let mut options = ResumeOptions::default();
    if let Some(q) = queue {
        options = options.queue_name(q);
    }
    let done = db.store.resume_workflows(ids, options).await?;
    let report = changed(ids, done);
    if json {
        print_json(&report)?;
    } else {
        for id in &report.changed {
            println!("resumed {id} (enqueued)");
        }
        for id in &report.unchanged {
            println!("unchanged {id} (already finished)");
        }
    }
    Ok(ExitCode::SUCCESS)
}
