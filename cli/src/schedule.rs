//! `schedule list|get|create|pause|resume|delete`.

use std::process::ExitCode;

use dbos_storage::{DbosConfig, Schedule, ScheduleFilter, ScheduleStatus};
use serde::Serialize;

use crate::cli::{ScheduleArgs, ScheduleCommand};
use crate::connect::{self, Db, Mode};
use crate::error::CliError;
use crate::output::{opt, pairs, print_json, Table};

pub(crate) async fn run(
    config: &DbosConfig,
    command: ScheduleCommand,
    json: bool,
) -> Result<ExitCode, CliError> {
    // Arguments are checked before connecting.
    let filter = match &command {
        ScheduleCommand::List {
            status,
            workflow,
            prefix,
            application,
        } => Some(filter(status, workflow, prefix, application)?),
        _ => None,
    };
    let new = match &command {
        ScheduleCommand::Create(args) => Some(schedule(args)?),
        _ => None,
    };
    let db = connect::open(config, Mode::Verify).await?;
    let result = match command {
        ScheduleCommand::List { .. } => list(&db, filter.unwrap_or_default(), json).await,
        ScheduleCommand::Get { name } => get(&db, &name, json).await,
        ScheduleCommand::Create(args) => match new {
            Some(s) => create(&db, s, args.upsert, json).await,
            None => unreachable!("built above"),
        },
        ScheduleCommand::Pause { name } => {
            let found = db.store.pause_schedule(&name).await;
            changed(&db, &name, found, "paused", json)
        }
        ScheduleCommand::Resume { name } => {
            let found = db.store.resume_schedule(&name).await;
            changed(&db, &name, found, "resumed", json)
        }
        ScheduleCommand::Delete { name } => {
            let found = db.store.delete_schedule(&name).await;
            changed(&db, &name, found, "deleted", json)
        }
    };
    db.close().await;
    result
}

fn filter(
    status: &Option<String>,
    workflow: &Option<String>,
    prefix: &Option<String>,
    application: &Option<String>,
) -> Result<ScheduleFilter, CliError> {
    let mut f = ScheduleFilter::new();
    if let Some(s) = status {
        f = f.status(parse_status(s)?);
    }
    if let Some(w) = workflow {
        f = f.workflow_name(w.clone());
    }
    if let Some(p) = prefix {
        f = f.name_prefix(p.clone());
    }
    if let Some(a) = application {
        f = f.application_name(a.clone());
    }
    Ok(f)
}

fn parse_status(text: &str) -> Result<ScheduleStatus, CliError> {
    match text.trim().to_ascii_uppercase().as_str() {
        "ACTIVE" => Ok(ScheduleStatus::Active),
        "PAUSED" => Ok(ScheduleStatus::Paused),
        _ => Err(CliError::new(format!(
            "unknown schedule status {text:?}; use ACTIVE or PAUSED"
        ))),
    }
}

fn schedule(args: &ScheduleArgs) -> Result<Schedule, CliError> {
    let mut s = Schedule::new(
        args.name.clone(),
        args.workflow.clone(),
        args.cron.clone(),
        args.context.clone(),
    )
    .with_backfill(args.backfill);
    if let Some(c) = &args.class {
        s = s.with_class(c.clone());
    }
    if let Some(q) = &args.queue {
        s = s.with_queue(q.clone());
    }
    if let Some(z) = &args.timezone {
        s = s.with_timezone(z.clone());
    }
    if let Some(a) = &args.application {
        s = s.with_application_name(a.clone());
    }
    s.validate()?;
    Ok(s)
}

/// A schedule as `--json` prints it: every column.
#[derive(Debug, Serialize)]
struct ScheduleJson {
    schedule_id: String,
    schedule_name: String,
    workflow_name: String,
    workflow_class_name: Option<String>,
    schedule: String,
    status: String,
    context: String,
    last_fired_at: Option<String>,
    automatic_backfill: bool,
    cron_timezone: Option<String>,
    queue_name: Option<String>,
    application_name: Option<String>,
}

impl From<&Schedule> for ScheduleJson {
    fn from(s: &Schedule) -> Self {
        ScheduleJson {
            schedule_id: s.schedule_id.clone(),
            schedule_name: s.schedule_name.clone(),
            workflow_name: s.workflow_name.clone(),
            workflow_class_name: s.workflow_class_name.clone(),
            schedule: s.schedule.clone(),
            status: s.status.as_str().to_owned(),
            context: s.context.clone(),
            last_fired_at: s.last_fired_at.clone(),
            automatic_backfill: s.automatic_backfill,
            cron_timezone: s.cron_timezone.clone(),
            queue_name: s.queue_name.clone(),
            application_name: s.application_name.clone(),
        }
    }
}

async fn list(db: &Db, filter: ScheduleFilter, json: bool) -> Result<ExitCode, CliError> {
    let rows = db.store.list_schedules(filter).await?;
    if json {
        let out: Vec<ScheduleJson> = rows.iter().map(ScheduleJson::from).collect();
        print_json(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no schedules");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        "NAME",
        "STATUS",
        "WORKFLOW",
        "CRON",
        "ZONE",
        "QUEUE",
        "LAST FIRED",
        "APPLICATION",
    ]);
    for s in &rows {
        table.row(vec![
            s.schedule_name.clone(),
            s.status.as_str().to_owned(),
            s.workflow_name.clone(),
            s.schedule.clone(),
            opt(s.cron_timezone.as_deref()),
            opt(s.queue_name.as_deref()),
            opt(s.last_fired_at.as_deref()),
            opt(s.application_name.as_deref()),
        ]);
    }
    print!("{}", table.render());
    Ok(ExitCode::SUCCESS)
}

async fn get(db: &Db, name: &str, json: bool) -> Result<ExitCode, CliError> {
    let Some(s) = db.store.get_schedule(name).await? else {
        return Err(CliError::new(format!("no schedule {name:?} in {}", db.url)));
    };
    if json {
        print_json(&ScheduleJson::from(&s))?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows = vec![
        ("name".to_owned(), s.schedule_name.clone()),
        ("id".to_owned(), s.schedule_id.clone()),
        ("status".to_owned(), s.status.as_str().to_owned()),
        ("workflow".to_owned(), s.workflow_name.clone()),
        ("class".to_owned(), opt(s.workflow_class_name.as_deref())),
        ("cron".to_owned(), s.schedule.clone()),
        ("time zone".to_owned(), opt(s.cron_timezone.as_deref())),
        ("queue".to_owned(), opt(s.queue_name.as_deref())),
        ("backfill".to_owned(), s.automatic_backfill.to_string()),
        ("last fired".to_owned(), opt(s.last_fired_at.as_deref())),
        ("application".to_owned(), opt(s.application_name.as_deref())),
        ("context".to_owned(), s.context.clone()),
    ];
    print!("{}", pairs(&rows));
    Ok(ExitCode::SUCCESS)
}

async fn create(db: &Db, s: Schedule, upsert: bool, json: bool) -> Result<ExitCode, CliError> {
    let name = s.schedule_name.clone();
    if upsert {
        db.store.upsert_schedules(vec![s]).await?;
    } else {
        db.store.create_schedule(s).await?;
    }
    let verb = if upsert { "upserted" } else { "created" };
    if json {
        print_json(&serde_json::json!({ verb: name }))?;
    } else {
        println!("{verb} schedule {name}");
    }
    Ok(ExitCode::SUCCESS)
}

fn changed(
    db: &Db,
    name: &str,
    found: dbos_storage::Result<bool>,
    verb: &str,
    json: bool,
) -> Result<ExitCode, CliError> {
    if !found? {
        return Err(CliError::new(format!("no schedule {name:?} in {}", db.url)));
    }
    if json {
        print_json(&serde_json::json!({ verb: name }))?;
    } else {
        println!("{verb} schedule {name}");
    }
    Ok(ExitCode::SUCCESS)
}
