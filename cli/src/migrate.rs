//! `migrate`: create or upgrade the system schema; on PostgreSQL, optionally grant an
//! application role the use of it.

use std::process::ExitCode;

use dbos_storage::DbosConfig;
use serde::Serialize;

use crate::cli::MigrateArgs;
use crate::connect::{self, Mode, Native};
use crate::error::CliError;
use crate::output::{pairs, print_json};

/// What `migrate --json` prints.
#[derive(Debug, Serialize)]
struct Report {
    url: String,
    backend: &'static str,
    schema: Option<String>,
    previous_version: i64,
    version: i64,
    latest: i64,
    app_role: Option<String>,
}

pub(crate) async fn run(
    config: &DbosConfig,
    args: MigrateArgs,
    json: bool,
) -> Result<ExitCode, CliError> {
    if args.app_role.is_some() && config.system_database_url()?.backend().name() == "sqlite" {
        return Err(CliError::new(
            "--app-role grants PostgreSQL privileges; a SQLite database has no roles",
        ));
    }
    let db = connect::open(config, Mode::Create).await?;
    let result = async {
        let previous = db.store.schema_version().await?;
        let version = db.store.migrate().await?;
        let schema = match &db.native {
            Native::Postgres(pg) => {
                if let Some(role) = &args.app_role {
                    pg.grant_app_role(role).await?;
                }
                Some(pg.schema().to_owned())
            }
            Native::Sqlite(_) => None,
        };
        Ok::<_, CliError>(Report {
            url: db.url.to_string(),
            backend: db.store.backend(),
            schema,
            previous_version: previous.recorded,
            version: version.recorded,
            latest: version.latest,
            app_role: args.app_role.clone(),
        })
    }
    .await;
    db.close().await;
    let report = result?;
    if json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![
        ("url".to_owned(), report.url.clone()),
        ("backend".to_owned(), report.backend.to_owned()),
    ];
    if let Some(schema) = &report.schema {
        rows.push(("schema".to_owned(), schema.clone()));
    }
    let version = if report.previous_version > report.latest {
        format!(
            "{} (newer than this build's {}, written by a newer DBOS peer: left untouched)",
            report.version, report.latest
        )
    } else if report.previous_version == report.version {
        format!("{} (already current)", report.version)
    } else {
        format!("{} (was {})", report.version, report.previous_version)
    };
    rows.push(("schema version".to_owned(), version));
    if let Some(role) = &report.app_role {
        rows.push((
            "app role".to_owned(),
            format!("{role} (granted the use of the schema)"),
        ));
    }
    print!("{}", pairs(&rows));
    Ok(ExitCode::SUCCESS)
}
