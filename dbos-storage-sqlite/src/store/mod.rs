//! [`SqliteStore`]: the DBOS system database on SQLite. One file per area trait; the operator
//! operations of `ManagementStore` are split by area (forks, retention, export, metrics,
//! rename) and dispatched from `management.rs`.

mod events;
mod export;
mod forks;
mod lifecycle;
mod management;
mod messages;
mod metrics;
mod queues;
mod recovery;
mod rename;
mod retention;
mod schedules;
mod steps;
mod streams;
mod versions;
mod workflow_steps;
mod workflows;

use std::sync::Arc;

use dbos_storage_core::{
    DatabaseUrl, Payload, Result, Serialization, SqliteLocation, WorkflowInfo,
};
use dbos_storage_driver_kit::decisions::column_values::{self, attributes_text, roles, status_of};
use dbos_storage_driver_kit::decisions::ownership_check::{self, WorkflowOwner};
use dbos_storage_driver_kit::wait::{PollGate, WaitContext, WaitRegistry, WakeSignal};
use rusqlite::types::ValueRef;
use rusqlite::{OptionalExtension, Params, Row, Transaction};

use crate::config::SqliteConfig;
use crate::connection::Connections;
use crate::error::{classify, with_backend, BACKEND};
use crate::sql;

/// The most ids bound in one statement (as one JSON array), as DBOS chunks its id lists.
pub(crate) const ID_CHUNK: usize = 4096;

/// The DBOS system database (schema v125) on a SQLite file or in memory.
///
/// Cheap to clone: clones share the connections. Every method is one transaction on the
/// connection thread; writes use one writer connection under `BEGIN IMMEDIATE` (concurrent writes
/// share one transaction and one commit, each in its own savepoint), reads use reader connections
/// in WAL mode. Writes that finish, cancel or resume a workflow wake the
/// `await_*` calls of this process at once, and sends, events and stream writes wake the
/// receivers waiting for their key; other processes are seen at the poll interval, by polling
/// reads that take a permit of a gate sized half the reader connections (at least 1).
///
/// Open it with [`SqliteStore::open`] or [`SqliteStore::open_url`], then call
/// [`migrate`](dbos_storage_core::LifecycleStore::migrate) once.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: SqliteConfig,
    conns: Connections,
    wake: WakeSignal,
    /// Receivers of messages, events and streams waiting in this process, by key.
    waiters: WaitRegistry,
    /// Caps the polling reads of those waits.
    gate: PollGate,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("location", &self.inner.config.location)
            .field("busy_timeout", &self.inner.config.busy_timeout)
            .field("readers", &self.inner.config.readers)
            .field("poll_gate", &self.inner.gate.size())
            .field("closed", &self.inner.conns.is_closed())
            .finish()
    }
}

impl SqliteStore {
    /// Opens (and for a file, creates) the database and its connections. It does not migrate:
    /// call [`migrate`](dbos_storage_core::LifecycleStore::migrate) next.
    ///
    /// # Errors
    /// [`InvalidConfig`](dbos_storage_core::ErrorKind::InvalidConfig) for invalid settings and
    /// for a path that cannot hold a database (a missing directory, a parent that is not a
    /// directory, no permission to write, a read-only file), saying what to fix;
    /// [`Corrupt`](dbos_storage_core::ErrorKind::Corrupt) for a file that is not a SQLite
    /// database; [`ConnectionLost`](dbos_storage_core::ErrorKind::ConnectionLost) when the file
    /// cannot be opened for another reason;
    /// [`Contention`](dbos_storage_core::ErrorKind::Contention) when another process keeps the
    /// file locked for longer than the busy timeout. Every message names the path.
    pub async fn open(config: SqliteConfig) -> Result<SqliteStore> {
        let conns = Connections::open(&config).await?;
        let gate = PollGate::for_pool(conns.readers());
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                config,
                conns,
                wake: WakeSignal::new(),
                waiters: WaitRegistry::new(),
                gate,
            }),
        })
    }

    /// Opens the database of a `sqlite:` URL: `sqlite:///relative.sqlite`,
    /// `sqlite:////absolute/path.sqlite` or `sqlite:///:memory:`, with the optional query keys
    /// `busy_timeout` (milliseconds), `readers` and `synchronous` (`full`, the default, `normal`,
    /// `extra` or `off`).
    ///
    /// # Errors
    /// [`InvalidConfig`](dbos_storage_core::ErrorKind::InvalidConfig) for a malformed URL or key,
    /// and as [`SqliteStore::open`].
    pub async fn open_url(url: &str) -> Result<SqliteStore> {
        let url = DatabaseUrl::parse(url)?;
        Self::open(SqliteConfig::from_url(&url)?).await
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &SqliteConfig {
        &self.inner.config
    }

    pub(crate) fn conns(&self) -> &Connections {
        &self.inner.conns
    }

    pub(crate) fn wake(&self) -> &WakeSignal {
        &self.inner.wake
    }

    /// The waiters of messages, events and streams in this process.
    pub(crate) fn waiters(&self) -> &WaitRegistry {
        &self.inner.waiters
    }

    /// What the shared waits of messages, events and streams need: the backend name, the
    /// waiters and the gate of polling reads.
    pub(crate) fn wait_context(&self) -> WaitContext<'_> {
        WaitContext::new(BACKEND, &self.inner.waiters, Some(&self.inner.gate))
    }

    /// The location for messages.
    pub(crate) fn location_text(&self) -> String {
        match &self.inner.config.location {
            SqliteLocation::Memory => ":memory:".to_owned(),
            SqliteLocation::File(p) => format!("{:?}", p.display().to_string()),
        }
    }
}

/// Statements run through the connection's prepared-statement cache (rusqlite's
/// `prepare_cached`): the SQL is a `&'static str` constant, prepared once per connection.
pub(crate) trait Cached {
    /// As `Connection::execute`, with the cached statement.
    fn execute_cached<P: Params>(&self, sql: &'static str, params: P) -> rusqlite::Result<usize>;

    /// As `Connection::query_row`, with the cached statement.
    fn query_row_cached<T, P, F>(&self, sql: &'static str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for rusqlite::Connection {
    fn execute_cached<P: Params>(&self, sql: &'static str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn query_row_cached<T, P, F>(&self, sql: &'static str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

/// The database clock in epoch milliseconds.
pub(crate) fn now_ms(tx: &Transaction<'_>) -> Result<i64> {
    tx.query_row_cached(sql::NOW_MS, [], |r| r.get(0))
        .map_err(classify)
}

/// A JSON array of strings, bound as one parameter and read with `json_each`.
pub(crate) fn json_array(values: &[String]) -> Result<String> {
    column_values::json_array(values).map_err(with_backend)
}

/// Runs a query whose parameter is a JSON array of ids over `ids` in chunks and returns every id
/// it returns, in the order the database returned them.
pub(crate) fn select_ids(
    tx: &Transaction<'_>,
    statement: &str,
    ids: &[String],
) -> Result<Vec<String>> {
    let mut stmt = tx.prepare_cached(statement).map_err(classify)?;
    let mut out = Vec::new();
    for chunk in ids.chunks(ID_CHUNK) {
        let rows = stmt
            .query_map([json_array(chunk)?], |r| r.get::<_, String>(0))
            .map_err(classify)?;
        for id in rows {
            out.push(id.map_err(classify)?);
        }
    }
    Ok(out)
}

/// An integer column that other writers may have stored as REAL (DBOS's
/// `unixepoch('subsec') * 1000` default) or as numeric text.
pub(crate) fn get_i64(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<i64>> {
    Ok(match row.get_ref(idx)? {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i),
        ValueRef::Real(f) => Some(f.round() as i64),
        ValueRef::Text(t) => {
            let s = String::from_utf8_lossy(t);
            let s = s.trim();
            match s.parse::<i64>() {
                Ok(i) => Some(i),
                Err(_) => match s.parse::<f64>() {
                    Ok(f) => Some(f.round() as i64),
                    Err(_) => {
                        return Err(rusqlite::Error::InvalidColumnType(
                            idx,
                            format!("{s:?} is not a number"),
                            rusqlite::types::Type::Text,
                        ))
                    }
                },
            }
        }
        ValueRef::Blob(_) => {
            return Err(rusqlite::Error::InvalidColumnType(
                idx,
                "a blob is not a number".to_owned(),
                rusqlite::types::Type::Blob,
            ))
        }
    })
}

/// A boolean column: 0/1, or `true`/`false` text from other writers.
pub(crate) fn get_bool(row: &Row<'_>, idx: usize) -> rusqlite::Result<bool> {
    Ok(match row.get_ref(idx)? {
        ValueRef::Null => false,
        ValueRef::Integer(i) => i != 0,
        ValueRef::Real(f) => f != 0.0,
        ValueRef::Text(t) => {
            let s = String::from_utf8_lossy(t);
            matches!(s.trim().to_ascii_lowercase().as_str(), "1" | "true" | "t")
        }
        ValueRef::Blob(_) => false,
    })
}

/// A payload from a text column (`value`) and its serialization label column (`label`).
pub(crate) fn read_payload(row: &Row<'_>, value: usize, label: usize) -> rusqlite::Result<Payload> {
    let text: String = row.get(value)?;
    let label: Option<String> = row.get(label)?;
    Ok(Payload::new(
        text,
        label.as_deref().map(Serialization::parse_label),
    ))
}

/// Reads a `WorkflowInfo` from a row of `workflow_columns!()` followed by inputs, output and
/// error (NULL when not loaded).
pub(crate) fn read_workflow(row: &Row<'_>) -> rusqlite::Result<WorkflowInfo> {
    let id: String = row.get(0)?;
    let status: Option<String> = row.get(1)?;
    let name: Option<String> = row.get(2)?;
    let mut w = WorkflowInfo::new(id, name.unwrap_or_default(), status_of(status.as_deref()));
    w.class_name = row.get(3)?;
    w.config_name = row.get(4)?;
    w.authenticated_user = row.get(5)?;
    w.assumed_role = row.get(6)?;
    w.authenticated_roles = roles(&w.workflow_id, row.get::<_, Option<String>>(7)?);
    w.executor_id = row.get(8)?;
    w.created_at = get_i64(row, 9)?.unwrap_or(0);
    w.updated_at = get_i64(row, 10)?.unwrap_or(0);
    w.application_version = row.get(11)?;
    w.application_id = row.get(12)?;
    w.application_name = row.get(13)?;
    w.recovery_attempts = get_i64(row, 14)?.unwrap_or(0);
    w.queue_name = row.get(15)?;
    w.workflow_timeout_ms = get_i64(row, 16)?;
    w.workflow_deadline_epoch_ms = get_i64(row, 17)?;
    w.started_at_epoch_ms = get_i64(row, 18)?;
    w.deduplication_id = row.get(19)?;
    w.priority = get_i64(row, 20)?
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or(0);
    w.queue_partition_key = row.get(21)?;
    w.forked_from = row.get(22)?;
    w.was_forked_from = get_bool(row, 23)?;
    w.parent_workflow_id = row.get(24)?;
    w.delay_until_epoch_ms = get_i64(row, 25)?;
    w.completed_at = get_i64(row, 26)?;
    w.schedule_name = row.get(27)?;
    w.attributes = attributes_text(&w.workflow_id, row.get::<_, Option<String>>(28)?);
    w.serialization = row
        .get::<_, Option<String>>(29)?
        .as_deref()
        .map(Serialization::parse_label);
    w.owner_xid = row.get(30)?;
    w.rate_limited = get_bool(row, 31)?;
    w.is_debounced = get_bool(row, 32)?;
    w.debounce_deadline_epoch_ms = get_i64(row, 33)?;
    w.inputs = row.get(34)?;
    w.output = row.get(35)?;
    w.error = row.get(36)?;
    Ok(w)
}

/// Reads a workflow's owner inside a write transaction (`BEGIN IMMEDIATE`, so the owner cannot
/// change until it commits; see [`sql::SELECT_WORKFLOW_OWNER`]); `None` when the workflow is
/// missing.
pub(crate) fn workflow_owner(
    tx: &Transaction<'_>,
    workflow_id: &str,
) -> Result<Option<WorkflowOwner>> {
    tx.query_row_cached(sql::SELECT_WORKFLOW_OWNER, [workflow_id], |r| {
        Ok(WorkflowOwner {
            owner_xid: r.get(0)?,
            deadline_epoch_ms: get_i64(r, 1)?,
            application_name: r.get(2)?,
        })
    })
    .optional()
    .map_err(classify)
}

/// Checks that `owner_xid` (when given) still owns the workflow, in the write transaction.
/// Returns the owner row (`None` only when no check was asked and the workflow is missing).
///
/// # Errors
/// [`NotFound`](dbos_storage_core::ErrorKind::NotFound) when the workflow is missing (with or
/// without a token); [`NotOwner`](dbos_storage_core::ErrorKind::NotOwner) when another token owns
/// it.
pub(crate) fn check_owner(
    tx: &Transaction<'_>,
    workflow_id: &str,
    owner_xid: Option<&str>,
    what: &str,
) -> Result<Option<WorkflowOwner>> {
    let Some(expected) = owner_xid else {
        return workflow_owner(tx, workflow_id);
    };
    let found = workflow_owner(tx, workflow_id)?;
    ownership_check::verify(workflow_id, expected, found, what)
        .map(Some)
        .map_err(with_backend)
}
