//! `check`: can it connect, is TLS in use, which server and dialect, the schema version against
//! this build's, and the pool settings. A schema behind this build is reported with what it
//! lacks and a warning; `check` exits 1 only when it is below the lowest version read.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use dbos_storage::schema::{self, MIN_READ_SCHEMA_VERSION};
use dbos_storage::{Capabilities, DbosConfig, SchemaVersion};
use serde::Serialize;

use crate::connect::{self, Mode};
use crate::error::CliError;
use crate::output::{pairs, print_json};

/// What `check --json` prints.
#[derive(Debug, Serialize)]
struct Report {
    url: String,
    connected: bool,
    connect_ms: u128,
    backend: &'static str,
    server_version: String,
    tls: Option<bool>,
    tls_detail: Option<String>,
    schema_version: VersionReport,
    capabilities: BTreeMap<&'static str, bool>,
    settings: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
struct VersionReport {
    recorded: i64,
    latest: i64,
    /// `current`, `behind` or `newer`.
    status: &'static str,
    /// The lowest version this build reads.
    lowest_read: i64,
    /// Whether this build reads it (at or above `lowest_read`).
    readable: bool,
    /// The tables and columns of later migrations it lacks (`column workflow_status.creator_xid
    /// (migration 123)`); empty when current.
    lacks: Vec<String>,
}

pub(crate) async fn run(config: &DbosConfig, json: bool) -> Result<ExitCode, CliError> {
    let started = Instant::now();
    let db = connect::open(config, Mode::Inspect).await?;
    let result = async {
        db.store.check_connection().await?;
        let connect_ms = started.elapsed().as_millis();
        let info = db.native.server_info().await?;
        let version = db.store.schema_version().await?;
        Ok::<_, CliError>((connect_ms, info, version))
    }
    .await;
    let capabilities = db.store.capabilities();
    db.close().await;
    let (connect_ms, info, version) = result?;
    let report = Report {
        url: db.url.to_string(),
        connected: true,
        connect_ms,
        backend: info.backend,
        server_version: info.server_version.clone(),
        tls: info.tls,
        tls_detail: info.tls_detail.clone(),
        schema_version: VersionReport {
            recorded: version.recorded,
            latest: version.latest,
            status: status(version),
            lowest_read: MIN_READ_SCHEMA_VERSION,
            readable: version.is_readable(),
            lacks: schema::missing_at(version.recorded)
                .map(|o| format!("{o} (migration {})", o.since))
                .collect(),
        },
        capabilities: capability_map(capabilities),
        settings: info.settings.iter().cloned().collect(),
    };
    if json {
        print_json(&report)?;
    } else {
        let tls = match (report.tls, &report.tls_detail) {
            (Some(true), Some(d)) => format!("yes ({d})"),
            (Some(true), None) => "yes".to_owned(),
            (Some(false), _) => "no".to_owned(),
            (None, _) if report.backend == "sqlite" => "not applicable (embedded)".to_owned(),
            (None, _) => "unknown (sslmode allows either)".to_owned(),
        };
        let schema = match report.schema_version.status {
            "current" => format!("{} (this build: {}) ok", version.recorded, version.latest),
            "newer" => format!(
                "{} (this build: {}) newer, written by a newer DBOS peer: accepted",
                version.recorded, version.latest
            ),
            _ if !version.is_readable() => format!(
                "{} (this build: {}) behind, below {MIN_READ_SCHEMA_VERSION}, the lowest this \
                 build reads: run `dbos-storage migrate`",
                version.recorded, version.latest
            ),
            _ if report.schema_version.lacks.is_empty() => format!(
                "{} (this build: {}) behind, read and written as it is (later migrations add \
                 only indexes); `dbos-storage migrate` brings it to {}",
                version.recorded, version.latest, version.latest
            ),
            _ => format!(
                "{} (this build: {}) behind, read as it is; writes that need {} fail until \
                 `dbos-storage migrate` brings it to {}",
                version.recorded,
                version.latest,
                report.schema_version.lacks.join(", "),
                version.latest
            ),
        };
        let enabled: Vec<&str> = report
            .capabilities
            .iter()
            .filter(|(_, on)| **on)
            .map(|(name, _)| *name)
            .collect();
        let mut rows = vec![
            ("url".to_owned(), report.url.clone()),
            (
                "connection".to_owned(),
                format!("ok ({} ms)", report.connect_ms),
            ),
            ("dialect".to_owned(), report.backend.to_owned()),
            ("server".to_owned(), report.server_version.clone()),
            ("tls".to_owned(), tls),
            ("schema version".to_owned(), schema),
            ("capabilities".to_owned(), enabled.join(", ")),
        ];
        for (k, v) in &info.settings {
            rows.push((k.replace('_', " "), v.clone()));
        }
        print!("{}", pairs(&rows));
    }
    if let Some(refusal) = schema::read_refusal(&report.url, version) {
        return Err(refusal.into());
    }
    if let Some(warning) = schema::behind_warning(&report.url, version) {
        eprintln!("warning: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}

fn status(version: SchemaVersion) -> &'static str {
    if version.recorded > version.latest {
        "newer"
    } else if version.is_current() {
        "current"
    } else {
        "behind"
    }
}

fn capability_map(c: Capabilities) -> BTreeMap<&'static str, bool> {
    BTreeMap::from([
        ("listen_notify", c.listen_notify),
        ("skip_locked", c.skip_locked),
        ("schemas", c.schemas),
        ("attribute_filter", c.attribute_filter),
        ("multi_process", c.multi_process),
        ("durable", c.durable),
    ])
}
