//! The one PostgreSQL server both sides run on (the testkit's throwaway cluster, or the server
//! of `DBOS_TEST_POSTGRES_URL`), the databases made on it, and the server CPU its backends use.

use std::collections::HashMap;
use std::process::Command;

use dbos_storage_testkit::pg::{self, PgServer, SUPERUSER};
use tokio_postgres::Client;

use crate::Failure;

/// The schema both sides use (the DBOS default).
const SCHEMA: &str = "dbos";

/// The server, started on first use.
pub(crate) fn server() -> &'static PgServer {
    pg::server()
}

/// The URL of a database named after `prefix` that does not exist yet: the side under test
/// creates it.
pub(crate) fn fresh_url(prefix: &str) -> String {
    let server = server();
    server.url_for(&server.unique_name(prefix), SUPERUSER, None)
}

/// Drops the database of `url` (after the side using it closed).
pub(crate) async fn drop_database(url: &str) {
    server().drop_database(url).await;
}

/// An admin connection to the database of `url`.
pub(crate) async fn admin(url: &str) -> Result<Client, Failure> {
    server()
        .connect(url)
        .await
        .map_err(|e| Failure::new(format!("admin connection: {e}")))
}

/// Turns autovacuum (and so autoanalyze) off for every table of the DBOS schema, so that a
/// table left unanalyzed stays so for the whole measurement.
pub(crate) async fn autovacuum_off(client: &Client) -> Result<(), Failure> {
    let rows = client
        .query(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(relname)
             FROM pg_stat_user_tables WHERE schemaname = $1",
            &[&SCHEMA],
        )
        .await
        .map_err(|e| Failure::new(format!("list tables: {e}")))?;
    for row in rows {
        let table: String = row.get(0);
        client
            .batch_execute(&format!(
                "ALTER TABLE {table} SET (autovacuum_enabled = false)"
            ))
            .await
            .map_err(|e| Failure::new(format!("autovacuum off on {table}: {e}")))?;
    }
    Ok(())
}

/// `ANALYZE` of the whole database.
pub(crate) async fn analyze(client: &Client) -> Result<(), Failure> {
    client
        .batch_execute("ANALYZE")
        .await
        .map_err(|e| Failure::new(format!("ANALYZE: {e}")))
}

/// Whether the workflow table has ever been analyzed (by hand or by autovacuum).
pub(crate) async fn workflow_table_analyzed(client: &Client) -> Result<bool, Failure> {
    let row = client
        .query_one(
            "SELECT last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL
             FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'workflow_status'",
            &[&SCHEMA],
        )
        .await
        .map_err(|e| Failure::new(format!("read analyze times: {e}")))?;
    Ok(row.get(0))
}

/// CPU time of the server processes serving one database, read from `/proc`: only for a
/// local cluster (an external server's process ids mean nothing here).
pub(crate) struct BackendCpu {
    /// Clock ticks per second of `/proc/<pid>/stat`.
    ticks_per_second: f64,
    /// Ticks used so far by each backend, at the last sample.
    start: HashMap<i32, u64>,
}

impl BackendCpu {
    /// Samples the backends of `database` now; `None` when the server is not a local cluster
    /// or `/proc` cannot be read.
    pub(crate) async fn start(client: &Client, database: &str) -> Option<BackendCpu> {
        server().cluster_dir()?;
        let ticks_per_second = clock_ticks()?;
        let start = backend_ticks(client, database).await?;
        Some(BackendCpu {
            ticks_per_second,
            start,
        })
    }

    /// Server CPU seconds the backends of `database` used since [`BackendCpu::start`] (a backend
    /// that appeared since counts from zero; one that exited is lost, so sample before closing).
    pub(crate) async fn seconds_since(&self, client: &Client, database: &str) -> Option<f64> {
        let now = backend_ticks(client, database).await?;
        let used: u64 = now
            .iter()
            .map(|(pid, ticks)| ticks.saturating_sub(*self.start.get(pid).unwrap_or(&0)))
            .sum();
        Some(used as f64 / self.ticks_per_second)
    }
}

/// `getconf CLK_TCK`.
fn clock_ticks() -> Option<f64> {
    let out = Command::new("getconf").arg("CLK_TCK").output().ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// User plus system ticks of every backend connected to `database` (the admin connection
/// asking included; it is idle between samples).
async fn backend_ticks(client: &Client, database: &str) -> Option<HashMap<i32, u64>> {
    let rows = client
        .query(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1",
            &[&database],
        )
        .await
        .ok()?;
    let mut ticks = HashMap::new();
    for row in rows {
        let pid: i32 = row.get(0);
        if let Some(t) = process_ticks(pid) {
            ticks.insert(pid, t);
        }
    }
    Some(ticks)
}

/// `utime + stime` of `/proc/<pid>/stat` (fields 14 and 15; the command name in field 2 may
/// hold spaces, so fields are counted after its closing parenthesis).
fn process_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The database name of `url`.
pub(crate) fn database_of(url: &str) -> String {
    pg::database_name(url)
}
