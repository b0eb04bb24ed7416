//! The raw database doing the store's work, for the ratios of the figures: for the standard
//! write figures, scratch copies of the workflow and step tables written one committed
//! single-row statement at a time; for `bench --scale`, the reads, enqueues and claims of its
//! figures on the real tables (submodules). Always over the same driver stack as the store (the
//! driver's native connection, opened with the store's settings).

mod claims;
mod enqueues;
mod postgres;
mod reads;
mod sqlite;
mod wal;

use std::sync::{Arc, Mutex};

use dbos_storage::postgres::tokio_postgres::Client;
use dbos_storage::sqlite::rusqlite;

use crate::connect::Native;
use crate::error::CliError;

pub(super) use claims::{RawClaimer, RawClaims};
pub(super) use enqueues::{RawBatches, RawEnqueues};
use postgres::PostgresRaw;
pub(super) use reads::{Filter, RawReads};
use sqlite::SqliteRaw;
pub(super) use wal::{WalMeter, WalWritten};

/// The output every raw step writes: the size of the step output the store's bench steps write,
/// as the store stores it.
const STEP_OUTPUT: &str = r#"{"json":"{\"ok\":true,\"step\":\"bench_step\"}"}"#;

/// One native connection of the bench's database, opened as the store opens its own: the raw
/// reads and enqueues of `bench --scale` each run on one.
pub(super) enum OneConnection {
    /// A connection with the store's pragmas, used from blocking threads.
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
    /// A dedicated connection with the store's settings, and the quoted schema with its dot.
    Postgres { client: Client, schema: String },
}

/// A native connection of a SQLite store, with its pragmas, shared with blocking threads.
async fn sqlite_connection(
    store: &dbos_storage::sqlite::SqliteStore,
) -> Result<Arc<Mutex<rusqlite::Connection>>, CliError> {
    let config = store.config().clone();
    let conn = tokio::task::spawn_blocking(move || config.native_connection())
        .await
        .map_err(raw_error)??;
    Ok(Arc::new(Mutex::new(conn)))
}

impl OneConnection {
    /// Opens a native connection of the bench's database.
    pub(super) async fn open(native: &Native) -> Result<OneConnection, CliError> {
        match native {
            Native::Sqlite(store) => sqlite_connection(store).await.map(OneConnection::Sqlite),
            Native::Postgres(store) => Ok(OneConnection::Postgres {
                client: store.native_connection().await?,
                schema: format!("{}.", dbos_storage::url::quote_identifier(store.schema())),
            }),
        }
    }
}

/// The raw baseline of either driver.
pub(super) enum Raw {
    /// One connection with the store's pragmas, as the store has one writer.
    Sqlite(SqliteRaw),
    /// `connections` dedicated connections with the store's TLS and session settings.
    Postgres(PostgresRaw),
}

impl Raw {
    /// Creates the scratch tables next to the store's and opens the connections that write into
    /// them (`connections` of them on PostgreSQL, one on SQLite).
    pub(super) async fn open(native: &Native, connections: usize) -> Result<Raw, CliError> {
        match native {
            Native::Sqlite(s) => SqliteRaw::open(s.config()).await.map(Raw::Sqlite),
            Native::Postgres(p) => PostgresRaw::open(p, connections).await.map(Raw::Postgres),
        }
    }

    /// Inserts one `PENDING` workflow row (one committed statement) on connection `conn`.
    pub(super) async fn insert_workflow(&self, conn: usize, id: &str) -> Result<(), CliError> {
        match self {
            Raw::Sqlite(r) => r.insert_workflow(id).await,
            Raw::Postgres(r) => r.insert_workflow(conn, id).await,
        }
    }

    /// Inserts one step row with a small output (one committed statement) on connection `conn`.
    pub(super) async fn insert_step(
        &self,
        conn: usize,
        id: &str,
        step: i32,
    ) -> Result<(), CliError> {
        match self {
            Raw::Sqlite(r) => r.insert_step(id, step).await,
            Raw::Postgres(r) => r.insert_step(conn, id, step).await,
        }
    }

    /// Marks one workflow row `SUCCESS` (one committed statement) on connection `conn`.
    pub(super) async fn finish_workflow(&self, conn: usize, id: &str) -> Result<(), CliError> {
        match self {
            Raw::Sqlite(r) => r.finish_workflow(id).await,
            Raw::Postgres(r) => r.finish_workflow(conn, id).await,
        }
    }

    /// Drops the scratch tables and closes the connections.
    pub(super) async fn drop(self) -> Result<(), CliError> {
        match self {
            Raw::Sqlite(r) => r.drop_tables().await,
            Raw::Postgres(r) => r.drop_schema().await,
        }
    }

    /// Whether the raw side is one connection whatever the concurrency (SQLite).
    pub(super) fn single_writer(&self) -> bool {
        matches!(self, Raw::Sqlite(_))
    }
}

/// The error of a raw statement or connection.
fn raw_error(e: impl std::fmt::Display) -> CliError {
    CliError::new(format!("the raw baseline failed: {e}"))
}
