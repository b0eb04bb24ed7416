//! `gc`, `export`, `import`, `metrics` and `app rename`: whole-database maintenance.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;

use dbos_storage::{
    collect_garbage, now_epoch_ms, DbosConfig, ExportDocument, GcOptions, ImportOptions,
    MetricsQuery, RenameApplication, RetentionPolicy,
};
use serde::Serialize;

use crate::cli::{AppCommand, ExportArgs, GcArgs, ImportArgs, MetricsArgs};
use crate::connect::{self, Mode};
use crate::error::CliError;
use crate::output::{local_time, pairs, parse_time, print_json, Table};

/// `n workflows`, singular for one.
fn count_workflows(n: usize) -> String {
    if n == 1 {
        "1 workflow".to_owned()
    } else {
        format!("{n} workflows")
    }
}

/// The collector's options from `gc`'s arguments, checked before connecting.
fn gc_options(args: &GcArgs) -> Result<GcOptions, CliError> {
    let cutoff = match (&args.older_than, &args.before) {
        (Some(age), _) => Some(now_epoch_ms() - dbos_storage::duration_ms(*age)),
        (None, Some(t)) => Some(parse_time("--before", t)?),
        (None, None) => None,
    };
    if cutoff.is_none() && args.keep.is_none() {
        return Err(CliError::new(
            "gc needs --older-than AGE, --before TIME or --keep N (what to delete)",
        ));
    }
    let mut policy = RetentionPolicy::default();
    policy.completed_before = cutoff;
    policy.keep_newest = args.keep;
    let mut options = GcOptions::new(policy)
        .batch_size(args.batch_size)
        .batch_time(args.batch_time)
        .lease_ttl(args.lease_ttl);
    if let Some(h) = &args.holder {
        options = options.holder(h.clone());
    }
    options = options.sweep_app_orphans(args.sweep_app_orphans);
    if args.batch_size == 0 {
        return Err(CliError::new("--batch-size must be at least 1"));
    }
    Ok(options)
}

/// What `gc --json` prints.
#[derive(Debug, Serialize)]
struct GcJson {
    holder: String,
    workflows: u64,
    batches: u64,
    orphan_inputs: u64,
    orphan_outputs: u64,
    orphan_steps: u64,
    app_rows: Option<u64>,
    app_orphans: Option<u64>,
}

pub(crate) async fn gc(
    config: &DbosConfig,
    args: GcArgs,
    json: bool,
) -> Result<ExitCode, CliError> {
    let options = gc_options(&args)?;
    let holder = options.holder.clone();
    let db = connect::open(config, Mode::Verify).await?;
    let app = match connect::open_app(config).await {
        Ok(app) => app,
        Err(e) => {
            db.close().await;
            return Err(e);
        }
    };
    if !json {
        eprintln!("collecting as {holder} (pass --holder {holder} to resume if interrupted)");
    }
    let report = collect_garbage(db.store.as_ref(), app.as_deref(), options).await;
    if let Some(app) = &app {
        let _ = app.close().await;
    }
    db.close().await;
    let report = report?;
    let with_app = app.is_some();
    if json {
        print_json(&GcJson {
            holder,
            workflows: report.workflows,
            batches: report.batches,
            orphan_inputs: report.orphans.inputs,
            orphan_outputs: report.orphans.outputs,
            orphan_steps: report.orphans.steps,
            app_rows: with_app.then_some(report.app_rows),
            app_orphans: (with_app && args.sweep_app_orphans).then_some(report.app_orphans),
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![
        (
            "workflows deleted".to_owned(),
            format!("{} in {} batches", report.workflows, report.batches),
        ),
        (
            "orphan rows".to_owned(),
            format!(
                "{} inputs, {} outputs, {} steps",
                report.orphans.inputs, report.orphans.outputs, report.orphans.steps
            ),
        ),
    ];
    if with_app {
        let orphans = if args.sweep_app_orphans {
            format!(", {} orphaned", report.app_orphans)
        } else {
            String::new()
        };
        rows.push((
            "app transactions".to_owned(),
            format!("{} of deleted workflows{orphans}", report.app_rows),
        ));
    }
    print!("{}", pairs(&rows));
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn export(config: &DbosConfig, args: ExportArgs) -> Result<ExitCode, CliError> {
    let db = connect::open(config, Mode::Verify).await?;
    let workflows = db.store.export_workflows(&args.ids, args.children).await;
    db.close().await;
    let document = ExportDocument::new(workflows?);
    let mut text = document.to_json()?;
    text.push('\n');
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| CliError::new(format!("cannot write {}: {e}", connect::show(path))))?;
            eprintln!(
                "exported {} to {}",
                count_workflows(document.workflows.len()),
                connect::show(path)
            );
        }
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn import(
    config: &DbosConfig,
    args: ImportArgs,
    json: bool,
) -> Result<ExitCode, CliError> {
    let text = if args.file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        text
    } else {
        std::fs::read_to_string(&args.file)
            .map_err(|e| CliError::new(format!("cannot read {}: {e}", connect::show(&args.file))))?
    };
    // The document is checked before connecting.
    let document = ExportDocument::from_json(&text)?;
    let db = connect::open(config, Mode::Verify).await?;
    let options = ImportOptions::default().replace_existing(args.replace);
    let imported = db.store.import_workflows(document.workflows, options).await;
    db.close().await;
    let imported = imported?;
    if json {
        print_json(&serde_json::json!({ "imported": imported }))?;
    } else {
        println!("imported {}", count_workflows(imported.len()));
    }
    Ok(ExitCode::SUCCESS)
}

/// The metrics query from `metrics`' arguments.
fn metrics_query(args: &MetricsArgs) -> Result<MetricsQuery, CliError> {
    let end = match &args.until {
        Some(t) => parse_time("--until", t)?,
        None => now_epoch_ms() + 1,
    };
    let bucket = args.bucket;
    let start = match &args.since {
        Some(t) => parse_time("--since", t)?,
        None => {
            // The default range starts on a bucket boundary, so buckets read 10:00, 11:00, …
            let start = end - 86_400_000;
            match bucket.map(dbos_storage::duration_ms).filter(|w| *w > 0) {
                Some(width) => start.div_euclid(width) * width,
                None => start,
            }
        }
    };
    let mut q = MetricsQuery::new(start, end);
    if let Some(b) = bucket {
        q = q.bucket(b);
    }
    if let Some(a) = &args.application {
        q = q.application_name(a.clone());
    }
    q.validate()?;
    Ok(q)
}

pub(crate) async fn metrics(
    config: &DbosConfig,
    args: MetricsArgs,
    json: bool,
) -> Result<ExitCode, CliError> {
    let query = metrics_query(&args)?;
    let db = connect::open(config, Mode::Verify).await?;
    let metrics = db.store.metrics(query).await;
    db.close().await;
    let metrics = metrics?;
    if json {
        let workflows: Vec<_> = metrics
            .workflows
            .iter()
            .map(|w| {
                serde_json::json!({
                    "bucket_start": w.bucket_start,
                    "name": w.name,
                    "status": w.status,
                    "count": w.count,
                })
            })
            .collect();
        let steps: Vec<_> = metrics
            .steps
            .iter()
            .map(|s| {
                serde_json::json!({
                    "bucket_start": s.bucket_start,
                    "function_name": s.function_name,
                    "count": s.count,
                    "errors": s.errors,
                })
            })
            .collect();
        print_json(&serde_json::json!({ "workflows": workflows, "steps": steps }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if metrics.workflows.is_empty() {
        println!("no workflows created in the range");
    } else {
        let mut table = Table::new(&["BUCKET", "WORKFLOW", "STATUS", ">COUNT"]);
        for w in &metrics.workflows {
            table.row(vec![
                local_time(w.bucket_start),
                w.name.clone(),
                w.status.clone(),
                w.count.to_string(),
            ]);
        }
        print!("{}", table.render());
    }
    if metrics.steps.is_empty() {
        println!("no steps completed in the range");
    } else {
        let mut table = Table::new(&["BUCKET", "STEP", ">COUNT", ">ERRORS"]);
        for s in &metrics.steps {
            table.row(vec![
                local_time(s.bucket_start),
                s.function_name.clone(),
                s.count.to_string(),
                s.errors.to_string(),
            ]);
        }
        print!("{}", table.render());
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn app(
    config: &DbosConfig,
    command: AppCommand,
    json: bool,
) -> Result<ExitCode, CliError> {
    let AppCommand::Rename {
        from,
        unclaimed: _,
        to,
        adopt_unclaimed,
        batch_size,
    } = command;
    let request = RenameApplication::new(from.clone(), to.clone())
        .batch_size(batch_size)
        .adopt_unclaimed(adopt_unclaimed);
    request.validate()?;
    let db = connect::open(config, Mode::Verify).await?;
    let report = db.store.rename_application(request).await;
    db.close().await;
    let r = report?;
    if json {
        print_json(&serde_json::json!({
            "from": from,
            "to": to,
            "queues": r.queues,
            "schedules": r.schedules,
            "versions": r.versions,
            "active_workflows": r.active_workflows,
            "finished_workflows": r.finished_workflows,
            "steps": r.steps,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let what = from.as_deref().unwrap_or("(unclaimed rows)");
    println!("moved {what} to {to}:");
    let rows = vec![
        ("queues".to_owned(), r.queues.to_string()),
        ("schedules".to_owned(), r.schedules.to_string()),
        ("versions".to_owned(), r.versions.to_string()),
        (
            "active workflows".to_owned(),
            r.active_workflows.to_string(),
        ),
        (
            "finished workflows".to_owned(),
            r.finished_workflows.to_string(),
        ),
        ("steps".to_owned(), r.steps.to_string()),
    ];
    print!("{}", pairs(&rows));
    Ok(ExitCode::SUCCESS)
}
